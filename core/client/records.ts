// Self-validating records (D4), as written by `gfs append` and read by
// `gfs cat --records`. On disk each record is
//
//   magic   4 bytes  "GFSR"
//   length  4 bytes  payload length, big-endian
//   writer  8 bytes  random id of the appending process or library handle
//   seq     8 bytes  the writer's record number, big-endian, from 0
//   crc     4 bytes  CRC32C of length, writer, seq and payload
//   payload length bytes
//
// Between records there may be padding (zeros, when a chunk was closed),
// torn fragments of failed attempts, and duplicates of retried records. The
// scanner finds records by their magic and checksum and resynchronises after
// anything else. The sequencer drops duplicates and delivers each writer's
// records in its own order: a record whose predecessor is missing (it failed
// and was retried, landing later in the file) waits for it.
import { crc32cCombine, crc32cExtend } from "../checksums";

export const RECORD_MAGIC = new Uint8Array([0x47, 0x46, 0x53, 0x52]); // "GFSR"
export const RECORD_HEADER_BYTES = 28;

export interface Record {
  writer: string; // 16 hex digits
  seq: number;
  payload: Uint8Array;
  /** Offset of the record in the byte stream it was scanned from. */
  offset: number;
}

export function encodeRecord(writer: Uint8Array, seq: number, payload: Uint8Array): Uint8Array {
  return encodeRecordWithCrc(writer, seq, payload).bytes;
}

/**
 * A record and the CRC32C of all its bytes, for the checksum of a push (end to
 * end): the payload is read once, and both the record's own checksum and the
 * whole record's follow from its CRC by combination.
 */
export function encodeRecordWithCrc(writer: Uint8Array, seq: number, payload: Uint8Array): { bytes: Uint8Array; crc: number } {
  // Plain byte stores: a DataView would make the engine materialize an ArrayBuffer per record.
  const out = new Uint8Array(RECORD_HEADER_BYTES + payload.byteLength);
  out.set(RECORD_MAGIC, 0);
  putUint32(out, 4, payload.byteLength);
  out.set(writer.subarray(0, 8), 8);
  putUint32(out, 16, Math.floor(seq / 2 ** 32));
  putUint32(out, 20, seq >>> 0);
  out.set(payload, RECORD_HEADER_BYTES);
  const payloadCrc = crc32cExtend(0, payload);
  putUint32(out, 24, crc32cCombine(crc32cExtend(0, out.subarray(4, 24)), payloadCrc, payload.byteLength));
  const crc = crc32cCombine(crc32cExtend(0, out.subarray(0, RECORD_HEADER_BYTES)), payloadCrc, payload.byteLength);
  return { bytes: out, crc };
}

function putUint32(out: Uint8Array, at: number, v: number): void {
  out[at] = v >>> 24;
  out[at + 1] = v >>> 16;
  out[at + 2] = v >>> 8;
  out[at + 3] = v;
}

function recordCrc(rec: Uint8Array, payloadBytes: number): number {
  const head = crc32cExtend(0, rec.subarray(4, 24));
  return crc32cExtend(head, rec.subarray(RECORD_HEADER_BYTES, RECORD_HEADER_BYTES + payloadBytes));
}

/** Finds valid records in a byte stream fed in arbitrary pieces. */
export class RecordScanner {
  private buf: Uint8Array = new Uint8Array(0);
  private base = 0; // stream offset of buf[0]
  skippedBytes = 0;

  constructor(readonly maxPayloadBytes: number) {}

  push(bytes: Uint8Array): Record[] {
    this.buf = this.buf.byteLength === 0 ? bytes : concat(this.buf, bytes);
    return this.scan(false);
  }

  /** Records left at the end of the stream (a final partial record is torn). */
  end(): Record[] {
    const out = this.scan(true);
    this.skippedBytes += this.buf.byteLength;
    this.buf = new Uint8Array(0);
    return out;
  }

  private scan(atEnd: boolean): Record[] {
    const out: Record[] = [];
    const buf = Buffer.from(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    let pos = 0;
    for (;;) {
      const at = buf.indexOf(RECORD_MAGIC, pos);
      if (at < 0) {
        // Keep a possible start of the magic at the very end.
        const keep = Math.min(3, buf.byteLength - pos);
        this.skippedBytes += buf.byteLength - pos - keep;
        pos = buf.byteLength - keep;
        break;
      }
      this.skippedBytes += at - pos;
      pos = at;
      if (buf.byteLength - pos < RECORD_HEADER_BYTES) break;
      const len = buf.readUInt32BE(pos + 4);
      if (len > this.maxPayloadBytes) {
        pos++;
        this.skippedBytes++;
        continue;
      }
      if (buf.byteLength - pos < RECORD_HEADER_BYTES + len) {
        if (!atEnd) break; // wait for the rest
        pos++;
        this.skippedBytes++;
        continue;
      }
      const rec = buf.subarray(pos, pos + RECORD_HEADER_BYTES + len);
      if (recordCrc(rec, len) !== buf.readUInt32BE(pos + 24)) {
        pos++; // a torn fragment or bytes that only look like a header
        this.skippedBytes++;
        continue;
      }
      const seq = buf.readUInt32BE(pos + 16) * 2 ** 32 + buf.readUInt32BE(pos + 20);
      out.push({ writer: buf.toString("hex", pos + 8, pos + 16), seq, payload: rec.subarray(RECORD_HEADER_BYTES), offset: this.base + pos });
      pos += RECORD_HEADER_BYTES + len;
    }
    this.base += pos;
    this.buf = this.buf.subarray(pos);
    return out;
  }
}

/**
 * Delivers each (writer, seq) once, each writer's records in sequence order.
 * Records that arrive ahead of a missing predecessor wait for it; at the end
 * of the stream (or when too many wait) the gap is given up on and the
 * waiting records are delivered in order.
 */
export class RecordSequencer {
  private readonly next = new Map<string, number>();
  private readonly waiting = new Map<string, Map<number, Record>>();
  duplicates = 0;

  constructor(readonly maxWaiting = 4096) {}

  accept(r: Record): Record[] {
    const expected = this.next.get(r.writer) ?? 0;
    if (r.seq < expected) {
      this.duplicates++;
      return [];
    }
    let held = this.waiting.get(r.writer);
    if (r.seq > expected) {
      // Every writer starts at 0; a later number waits for the ones before
      // it (retried records land after their successors).
      held ??= new Map();
      this.waiting.set(r.writer, held);
      if (held.has(r.seq)) this.duplicates++;
      else held.set(r.seq, r);
      return held.size > this.maxWaiting ? this.release(r.writer) : [];
    }
    const out = [r];
    let n = expected + 1;
    while (held?.has(n)) {
      out.push(held.get(n)!);
      held.delete(n);
      n++;
    }
    this.next.set(r.writer, n);
    if (held && held.size === 0) this.waiting.delete(r.writer);
    return out;
  }

  /** Everything still waiting, in each writer's order (end of stream). */
  finish(): Record[] {
    const out: Record[] = [];
    for (const writer of [...this.waiting.keys()]) out.push(...this.release(writer));
    return out;
  }

  private release(writer: string): Record[] {
    const held = this.waiting.get(writer);
    if (!held) return [];
    const out = [...held.values()].sort((a, b) => a.seq - b.seq);
    this.waiting.delete(writer);
    this.next.set(writer, out[out.length - 1]!.seq + 1);
    return out;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}
