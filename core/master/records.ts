// Record framing for the operation log and checkpoints: a 4-byte big-endian
// length, a 4-byte CRC32C of the body, then the msgpack body. A torn or
// damaged record is recognised by its length or checksum. A zero length
// marks the end (logs are preallocated with zeros; no record is empty).
import { crc32cExtend } from "../chunkserver/checksums";
import { decodeBody, encodeBody } from "../../net/codec";

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
  /** Bytes of valid records from the start; anything after is zeros, torn or damaged. */
  validBytes: number;
  damaged: boolean;
}

export function decodeRecords(bytes: Uint8Array): DecodedRecords {
  const values: unknown[] = [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.byteLength) {
    if (bytes.byteLength - at < RECORD_HEADER_BYTES) return { values, validBytes: at, damaged: true };
    const len = dv.getUint32(at);
    if (len === 0) {
      // The end of the records: everything after must be preallocated zeros.
      return { values, validBytes: at, damaged: !allZero(bytes, at) };
    }
    if (len > MAX_RECORD_BYTES || at + RECORD_HEADER_BYTES + len > bytes.byteLength) return { values, validBytes: at, damaged: true };
    const body = bytes.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + len);
    if (crc32cExtend(0, body) !== dv.getUint32(at + 4)) return { values, validBytes: at, damaged: true };
    try {
      values.push(decodeBody(body));
    } catch {
      return { values, validBytes: at, damaged: true };
    }
    at += RECORD_HEADER_BYTES + len;
  }
  return { values, validBytes: at, damaged: false };
}

function allZero(bytes: Uint8Array, from: number): boolean {
  for (let i = from; i < bytes.byteLength; i++) if (bytes[i] !== 0) return false;
  return true;
}
