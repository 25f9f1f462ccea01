import { describe, expect, test } from "bun:test";
import { decodeBody, encodeBody } from "../../net/codec";
import { FrameDecoder, FrameTooLargeError, encodeFrame } from "../../net/frame";
import { EnvelopeError, checkFrameHead, decodeMessage, encodeMessage } from "../../net/envelope";

function frames(...bodies: Uint8Array[]): Uint8Array {
  return Buffer.concat(bodies.map((b) => encodeFrame(b)));
}

describe("frame decoder", () => {
  test("frames split and merged at every possible point come out whole and in order", () => {
    const bodies = [encodeBody({ a: 1 }), encodeBody({ b: "x".repeat(300) }), new Uint8Array(0), encodeBody([1, 2, 3])];
    const wire = frames(...bodies);
    for (let cut1 = 0; cut1 <= wire.length; cut1 += 7) {
      for (let cut2 = cut1; cut2 <= wire.length; cut2 += 13) {
        const d = new FrameDecoder();
        const got = [...d.push(wire.subarray(0, cut1)), ...d.push(wire.subarray(cut1, cut2)), ...d.push(wire.subarray(cut2))];
        expect(got.map((g) => Buffer.from(g).toString("hex"))).toEqual(bodies.map((b) => Buffer.from(b).toString("hex")));
        expect(d.bufferedBytes).toBe(0);
      }
    }
  });

  test("byte-at-a-time delivery works", () => {
    const body = encodeBody({ hello: "world", n: 42 });
    const wire = frames(body, body);
    const d = new FrameDecoder();
    const got: Uint8Array[] = [];
    for (let i = 0; i < wire.length; i++) got.push(...d.push(wire.subarray(i, i + 1)));
    expect(got).toHaveLength(2);
    expect(decodeBody(got[1]!)).toEqual({ hello: "world", n: 42 });
  });

  test("a length prefix above the limit is refused before any allocation", () => {
    const d = new FrameDecoder(1024);
    expect(() => d.push(new Uint8Array([0xff, 0xff, 0xff, 0xff]))).toThrow(FrameTooLargeError);
    const d2 = new FrameDecoder(1024);
    expect(() => d2.push(new Uint8Array([0, 0, 4, 1]))).toThrow(/exceeds the limit of 1024/);
  });

  test("a frame exactly at the limit is accepted", () => {
    const d = new FrameDecoder(10);
    expect(d.push(encodeFrame(new Uint8Array(10)))).toHaveLength(1);
  });
});

describe("frame bodies (envelope, head checksum, data tail)", () => {
  test("a message and its data tail come back as sent", () => {
    const data = new Uint8Array([1, 2, 3, 250]);
    const frame = Buffer.concat([encodeMessage({ i: 3, t: "pushData", b: { dataId: "x" } }, data), data]);
    const [body] = new FrameDecoder().push(frame);
    const { envelope, tail } = decodeMessage(body!);
    expect(envelope).toEqual({ i: 3, t: "pushData", b: { dataId: "x" } });
    expect([...tail!]).toEqual([1, 2, 3, 250]);
    const plain = new FrameDecoder().push(encodeMessage({ i: 4, r: { ok: true } }))[0]!;
    const decoded = decodeMessage(plain);
    expect({ envelope: decoded.envelope, tail: decoded.tail }).toEqual({ envelope: { i: 4, r: { ok: true } }, tail: null });
    // The head is the envelope's msgpack, as the RPC log keeps it.
    expect(decodeBody(decoded.head)).toEqual({ i: 4, r: { ok: true } });
  });

  test("a tail joined to its head in one array is the same frame as one sent after it", () => {
    const data = new Uint8Array([9, 8, 7, 6, 5]);
    const envelope = { i: 5, t: "append", b: { handle: 1, version: 2, dataId: "", size: 5, crc: 77 } };
    const joined = encodeMessage(envelope, data, true);
    expect(Buffer.from(joined).equals(Buffer.concat([encodeMessage(envelope, data), data]))).toBe(true);
    const { envelope: back, tail } = decodeMessage(new FrameDecoder().push(joined)[0]!);
    expect(back).toEqual(envelope);
    expect([...tail!]).toEqual([9, 8, 7, 6, 5]);
  });

  test("any single flipped bit in a head is detected", () => {
    const frame = encodeMessage({ i: 7, t: "write", b: { handle: 12, version: 3, offset: 1048576, dataId: "abc", size: 4096 } });
    for (let byte = 4; byte < frame.byteLength; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const damaged = Uint8Array.from(frame);
        damaged[byte] = damaged[byte]! ^ (1 << bit);
        expect(() => decodeMessage(damaged.subarray(4))).toThrow(EnvelopeError);
      }
    }
  });
});

describe("a damaged frame length (found by the chaos run: a write hung 120 s)", () => {
  // A flipped bit in a length prefix announced a frame far longer than the one
  // sent: the receiver waited for bytes that never came, while the peer's
  // keep-alives (swallowed into the phantom frame) kept the connection alive.
  const messages = [
    () => encodeMessage({ i: 9, r: { chunkBytes: 4096 } }),
    () => {
      const data = new Uint8Array(300).fill(7);
      return Buffer.concat([encodeMessage({ i: 0, t: "pushData", b: { dataId: "d", offset: 0 } }, data), data]);
    },
  ];
  for (const [name, make] of [["without a data tail", messages[0]!], ["with a data tail", messages[1]!]] as const) {
    test(`is detected as soon as the head is in, ${name}`, () => {
      for (let bit = 0; bit < 24; bit++) {
        const frame = new Uint8Array(make());
        // Flip a bit of the length's low three bytes: a longer (or shorter) frame within the size limit.
        frame[3 - (bit >> 3)]! ^= 1 << (bit & 7);
        const d = new FrameDecoder(16 * 1024 * 1024, checkFrameHead);
        let failed = false;
        try {
          const frames = d.push(frame);
          for (const f of frames) decodeMessage(f);
        } catch {
          failed = true;
        }
        expect(`bit ${bit}: ${failed}`).toBe(`bit ${bit}: true`);
      }
    });
  }

  test("a frame arriving one byte at a time passes the early check", () => {
    const data = new Uint8Array(5000).fill(3);
    const frame = Buffer.concat([encodeMessage({ i: 0, t: "pushData", b: { dataId: "d", offset: 0 } }, data), data]);
    const d = new FrameDecoder(1 << 20, checkFrameHead);
    const out: Uint8Array[] = [];
    for (let i = 0; i < frame.byteLength; i++) out.push(...d.push(frame.subarray(i, i + 1)));
    expect(out).toHaveLength(1);
    expect(decodeMessage(out[0]!).tail!.byteLength).toBe(5000);
  });
});
