// Fuzzing the wire's first layers (W2): the frame decoder and the codec take
// any bytes, split anywhere, and either yield what was sent or refuse with
// the one error they declare, holding at most one frame.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { decodeBody, encodeBody } from "../../net/codec";
import { FrameDecoder, FrameTooLargeError, encodeFrame } from "../../net/frame";
import { FUZZ_SEED, runs } from "./fuzz-config";

/** Splits `bytes` at the given cut points (taken modulo its length). */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => (bytes.byteLength ? c % (bytes.byteLength + 1) : 0)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const c of [...at, bytes.byteLength]) {
    out.push(bytes.subarray(from, c));
    from = c;
  }
  return out;
}

describe(`fuzzing frames and bodies (seed ${FUZZ_SEED})`, () => {
  test("any bytes, split anywhere: whole frames within the limit or FrameTooLargeError, never more than one frame held", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.array(fc.nat(), { maxLength: 6 }), fc.integer({ min: 0, max: 600 }), (bytes, cuts, max) => {
        const dec = new FrameDecoder(max);
        try {
          for (const piece of split(bytes, cuts)) {
            for (const f of dec.push(piece)) expect(f.byteLength).toBeLessThanOrEqual(max);
            expect(dec.bufferedBytes).toBeLessThanOrEqual(max + 4);
          }
        } catch (err) {
          if (!(err instanceof FrameTooLargeError)) throw err;
        }
      }),
      { numRuns: runs(15_000), seed: FUZZ_SEED },
    );
  });

  test("frames sent whole come out exactly as sent, however the bytes are split", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 10 }), (bodies, cuts) => {
        const wire = Buffer.concat(bodies.map((b) => encodeFrame(b)));
        const dec = new FrameDecoder(1000);
        const got: Uint8Array[] = [];
        for (const piece of split(wire, cuts)) for (const f of dec.push(piece)) got.push(Uint8Array.from(f));
        expect(got.map((g) => [...g])).toEqual(bodies.map((b) => [...b]));
      }),
      { numRuns: runs(5_000), seed: FUZZ_SEED },
    );
  });

  test("any bytes decode to a value or throw; never hang or crash", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        try {
          decodeBody(bytes);
        } catch {}
      }),
      { numRuns: runs(10_000), seed: FUZZ_SEED },
    );
  });

  test("valid msgpack mutated byte by byte decodes or throws", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), (value, flips) => {
        const bytes = Uint8Array.from(encodeBody(value));
        for (const [at, v] of flips) if (bytes.byteLength) bytes[at % bytes.byteLength] = v;
        try {
          decodeBody(bytes);
        } catch {}
      }),
      { numRuns: runs(5_000), seed: FUZZ_SEED },
    );
  });
});
