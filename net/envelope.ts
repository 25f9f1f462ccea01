// A frame's body (W1): a small binary header, the msgpack envelope (the
// "head"), and optionally raw bulk data (the "tail"):
//
//   u32  head length; bit 31 set when a data tail follows
//   u32  CRC32C of the frame's length prefix, the first word and the head
//   head msgpack envelope { i, t, b } / { i, r } / { i, e }
//   tail raw bytes: the `data` field of the body (b or r), never copied into msgpack
//
// The head's checksum catches bytes damaged on the way in any field of any
// message (an offset, a length, a handle); bulk data carries its own
// checksum in the message that names it (push `crc`, read reply `crc`), so it
// is checked once, where it is used, and never twice. The checksum covers the
// frame's length too, and the decoder checks it as soon as the head is in
// (checkFrameHead): a damaged length is found then, not after waiting for
// bytes that will never come while the peer's keep-alives make the
// connection look alive.
import { crc32cExtend } from "../core/checksums";
import { decodeBody, encodeBody } from "./codec";
import { FRAME_PREFIX_BYTES, readU32, writeU32 } from "./frame";

export const BODY_HEADER_BYTES = 8;
const TAIL_FLAG = 0x80000000;

export class EnvelopeError extends Error {}

/**
 * The bytes of one frame: the length prefix, the body header and the head in
 * one array; the tail (if any) goes to the socket as it is, after it, unless
 * `withTail` asks for it in the same array (one write for a small message).
 */
export function encodeMessage(envelope: unknown, tail?: Uint8Array, withTail = false): Uint8Array {
  const head = encodeBody(envelope);
  const out = new Uint8Array(FRAME_PREFIX_BYTES + BODY_HEADER_BYTES + head.byteLength + (withTail ? tail!.byteLength : 0));
  writeU32(out, 0, BODY_HEADER_BYTES + head.byteLength + (tail?.byteLength ?? 0));
  writeU32(out, 4, (head.byteLength | (tail ? TAIL_FLAG : 0)) >>> 0);
  writeU32(out, 8, crc32cExtend(crc32cExtend(0, out, 0, 8), head));
  out.set(head, FRAME_PREFIX_BYTES + BODY_HEADER_BYTES);
  if (withTail) out.set(tail!, FRAME_PREFIX_BYTES + BODY_HEADER_BYTES + head.byteLength);
  return out;
}

const lengthScratch = new Uint8Array(4);

/** The checksum of a frame's head: its length prefix, the body's first word and the head (`body[8, 8 + headBytes)`). */
function headChecksum(frameLength: number, body: Uint8Array, headBytes: number): number {
  writeU32(lengthScratch, 0, frameLength);
  return crc32cExtend(crc32cExtend(crc32cExtend(0, lengthScratch), body, 0, 4), body, BODY_HEADER_BYTES, BODY_HEADER_BYTES + headBytes);
}

/**
 * Checks a frame's head while the rest of the frame is still to come:
 * `start` is the body so far, `frameLength` the length its prefix announced.
 * Returns how many body bytes it needs to decide (it decides once they are
 * in); throws EnvelopeError when the head, or the announced length, is damaged.
 */
export function checkFrameHead(start: Uint8Array, frameLength: number): number {
  if (start.byteLength < BODY_HEADER_BYTES) return BODY_HEADER_BYTES;
  const word = readU32(start, 0);
  const headBytes = word & ~TAIL_FLAG;
  if (BODY_HEADER_BYTES + headBytes > frameLength) throw new EnvelopeError("frame head is longer than the frame");
  if ((word & TAIL_FLAG) === 0 && BODY_HEADER_BYTES + headBytes !== frameLength) throw new EnvelopeError("frame length does not match its head (damaged on the way)");
  if (start.byteLength < BODY_HEADER_BYTES + headBytes) return BODY_HEADER_BYTES + headBytes;
  if (headChecksum(frameLength, start, headBytes) !== readU32(start, 4)) throw new EnvelopeError("frame head fails its checksum (damaged on the way)");
  return 0;
}

/** The envelope, tail and head (the envelope's msgpack) of a frame body; throws EnvelopeError when the body is damaged or malformed. */
export function decodeMessage(body: Uint8Array): { envelope: unknown; tail: Uint8Array | null; head: Uint8Array } {
  if (body.byteLength < BODY_HEADER_BYTES) throw new EnvelopeError("frame body is shorter than its header");
  const word = readU32(body, 0);
  const headBytes = word & ~TAIL_FLAG;
  const hasTail = (word & TAIL_FLAG) !== 0;
  if (BODY_HEADER_BYTES + headBytes > body.byteLength) throw new EnvelopeError("frame head is longer than the frame");
  if (!hasTail && BODY_HEADER_BYTES + headBytes !== body.byteLength) throw new EnvelopeError("frame has bytes after its head");
  if (headChecksum(body.byteLength, body, headBytes) !== readU32(body, 4)) throw new EnvelopeError("frame head fails its checksum (damaged on the way)");
  const head = body.subarray(BODY_HEADER_BYTES, BODY_HEADER_BYTES + headBytes);
  let envelope: unknown;
  try {
    envelope = decodeBody(head);
  } catch (err) {
    throw new EnvelopeError(`frame head is not valid msgpack: ${(err as Error).message}`);
  }
  return { envelope, tail: hasTail ? body.subarray(BODY_HEADER_BYTES + headBytes) : null, head };
}
