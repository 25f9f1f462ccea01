// Record framing for the operation log and checkpoints: a 4-byte big-endian
// length, a 4-byte CRC32C of the body, then the msgpack body. A torn or
// damaged record is recognised by its length or checksum. A zero length
// marks the end (logs are preallocated with zeros; no record is empty).
import { crc32cExtend } from "../checksums";
import { decodeBody, encodeBody } from "../../net/codec";
import { readU32 } from "../../net/frame";

export const RECORD_HEADER_BYTES = 8;
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

export function encodeRecord(value: unknown): Uint8Array {
  const body = encodeBody(value);
  const out = new Uint8Array(RECORD_HEADER_BYTES + body.byteLength);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, body.byteLength);
  dv.setUint32(4, crc32cExtend(0, body));
  out.set(body, RECORD_HEADER_BYTES);
  return out;
}

export interface DecodedRecords {
  values: unknown[];
  /** Byte offset of each value's record. */
  offsets: number[];
  /** Bytes of valid records from the start; anything after is zeros, torn or damaged. */
  validBytes: number;
  damaged: boolean;
}

export function decodeRecords(bytes: Uint8Array): DecodedRecords {
  const values: unknown[] = [];
  const offsets: number[] = [];
  let at = 0;
  while (at < bytes.byteLength) {
    const len = bytes.byteLength - at >= RECORD_HEADER_BYTES ? readU32(bytes, at) : -1;
    if (len === 0) {
      // The end of the records: everything after must be preallocated zeros.
      return { values, offsets, validBytes: at, damaged: !allZero(bytes, at) };
    }
    const value = len > 0 ? recordAt(bytes, at) : NOT_A_RECORD;
    if (value === NOT_A_RECORD) return { values, offsets, validBytes: at, damaged: true };
    values.push(value);
    offsets.push(at);
    at += RECORD_HEADER_BYTES + len;
  }
  return { values, offsets, validBytes: at, damaged: false };
}

const NOT_A_RECORD = Symbol("not a record");

/** The value of a whole, intact record starting at `at`, or NOT_A_RECORD. */
function recordAt(bytes: Uint8Array, at: number): unknown {
  if (bytes.byteLength - at < RECORD_HEADER_BYTES) return NOT_A_RECORD;
  const len = readU32(bytes, at);
  if (len === 0 || len > MAX_RECORD_BYTES || at + RECORD_HEADER_BYTES + len > bytes.byteLength) return NOT_A_RECORD;
  const body = bytes.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + len);
  if (crc32cExtend(0, body) !== readU32(bytes, at + 4)) return NOT_A_RECORD;
  try {
    return decodeBody(body);
  } catch {
    return NOT_A_RECORD;
  }
}

/**
 * Whether an intact record starts anywhere at or after `from`. A log whose
 * damage is followed by one was damaged in place (a flipped byte, a bad
 * sector), not torn by a crash in its last write: the records after it were
 * acknowledged and must not be silently dropped.
 */
export function intactRecordAfter(bytes: Uint8Array, from: number): number {
  for (let at = from; at + RECORD_HEADER_BYTES < bytes.byteLength; at++) {
    if (bytes[at] !== 0 || bytes[at + 1] !== 0 || bytes[at + 2] !== 0 || bytes[at + 3] !== 0) {
      if (recordAt(bytes, at) !== NOT_A_RECORD) return at;
    }
  }
  return -1;
}

function allZero(bytes: Uint8Array, from: number): boolean {
  for (let i = from; i < bytes.byteLength; i++) if (bytes[i] !== 0) return false;
  return true;
}
