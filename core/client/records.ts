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
import { writeU32 } from "../../net/frame";

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
  writeU32(out, 4, payload.byteLength);
  out.set(writer.subarray(0, 8), 8);
  writeU32(out, 16, Math.floor(seq / 2 ** 32));
  writeU32(out, 20, seq >>> 0);
  out.set(payload, RECORD_HEADER_BYTES);
  const payloadCrc = crc32cExtend(0, payload);
  writeU32(out, 24, crc32cCombine(crc32cExtend(0, out.subarray(4, 24)), payloadCrc, payload.byteLength));
  const crc = crc32cCombine(crc32cExtend(0, out.subarray(0, RECORD_HEADER_BYTES)), payloadCrc, payload.byteLength);
  return { bytes: out, crc };
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
 * Records that arrive ahead of a missing predecessor wait for it (retried
 * records can land after their successors). When too much waits, or at the
 * end of the stream, the gap is given up on and the waiting records are
 * delivered in order; a record of a given-up gap that turns up later is still
 * delivered, out of order, rather than taken for a duplicate: a record is
 * dropped only when the same (writer, seq) was delivered before.
 */
export class RecordSequencer {
  private readonly writers = new Map<string, WriterState>();
  private waitingBytes = 0;
  private waitingRecords = 0;
  duplicates = 0;
  /** Records delivered after a later one of their writer, because their gap had been given up on. */
  late = 0;

  constructor(readonly maxWaitingBytes = 64 * 1024 * 1024, readonly maxWaitingRecords = 1 << 20) {}

  accept(r: Record): Record[] {
    let w = this.writers.get(r.writer);
    if (!w) this.writers.set(r.writer, (w = { next: 0, held: new Map(), gaps: [] }));
    if (r.seq < w.next) {
      if (takeFromGaps(w.gaps, r.seq)) {
        this.late++;
        return [r];
      }
      this.duplicates++;
      return [];
    }
    if (r.seq > w.next) {
      if (w.held.has(r.seq)) {
        this.duplicates++;
        return [];
      }
      w.held.set(r.seq, r);
      this.waitingBytes += r.payload.byteLength;
      this.waitingRecords++;
      if (this.waitingBytes <= this.maxWaitingBytes && this.waitingRecords <= this.maxWaitingRecords) return [];
      // Too much waits: this writer's gaps are given up on, then everyone's if that was not enough.
      const out = this.release(w);
      if (this.waitingBytes > this.maxWaitingBytes || this.waitingRecords > this.maxWaitingRecords) for (const other of this.writers.values()) out.push(...this.release(other));
      return out;
    }
    const out = [r];
    let n = w.next + 1;
    for (let h = w.held.get(n); h; h = w.held.get(n)) {
      out.push(h);
      this.unhold(w, n);
      n++;
    }
    w.next = n;
    return out;
  }

  /** Everything still waiting, in each writer's order (end of stream). */
  finish(): Record[] {
    const out: Record[] = [];
    for (const w of this.writers.values()) out.push(...this.release(w));
    return out;
  }

  private release(w: WriterState): Record[] {
    if (w.held.size === 0) return [];
    const out = [...w.held.values()].sort((a, b) => a.seq - b.seq);
    for (const r of out) {
      if (r.seq > w.next) w.gaps.push([w.next, r.seq]);
      this.unhold(w, r.seq);
      w.next = r.seq + 1;
    }
    return out;
  }

  private unhold(w: WriterState, seq: number): void {
    const r = w.held.get(seq)!;
    w.held.delete(seq);
    this.waitingBytes -= r.payload.byteLength;
    this.waitingRecords--;
  }
}

interface WriterState {
  /** Every seq below this was delivered, except those in `gaps`. */
  next: number;
  /** Records above `next`, waiting for the ones before them. */
  held: Map<number, Record>;
  /** Ranges [from, to) below `next` given up on and not delivered yet. */
  gaps: [number, number][];
}

/** Removes `seq` from the ranges that hold it; whether one did. */
function takeFromGaps(gaps: [number, number][], seq: number): boolean {
  const i = gaps.findIndex(([from, to]) => seq >= from && seq < to);
  if (i < 0) return false;
  const [from, to] = gaps[i]!;
  const parts: [number, number][] = [];
  if (from < seq) parts.push([from, seq]);
  if (seq + 1 < to) parts.push([seq + 1, to]);
  gaps.splice(i, 1, ...parts);
  return true;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}
