// Pushed data waiting for the write or append that uses it (C4). Bounded in
// bytes; when a new push does not fit, the least recently used complete
// entries are dropped (their writes fail with NO_DATA and the client pushes
// again); entries unused for `maxAgeMs` are aged out. A push may name its
// sender: one sender holds at most a quarter of the buffer, so a client that
// announces pushes and never sends them cannot starve the others (R5). Each push gets one
// buffer of its announced size; buffers come back through `recycle` once
// written, so steady streams reuse memory instead of faulting in new pages.
// Pure: time is passed in.
import { ErrorCode, GfsError } from "../../net/errors";

/** Pushed bytes and the CRC32C their sender computed (checked where they are written). */
export interface Pushed {
  data: Uint8Array;
  crc?: number;
}

interface Entry {
  dataId: string;
  buf: Uint8Array;
  crc?: number;
  sender?: string;
  receivedBytes: number;
  touchedMs: number;
}

const POOL_MAX_BUFFERS = 8;
/** Part of the buffer one named sender may hold. */
const SENDER_SHARE = 1 / 4;

export class PushBuffer {
  private readonly entries = new Map<string, Entry>(); // insertion order = LRU order
  private reservedBytes = 0;
  private readonly bySender = new Map<string, number>();
  private readonly pool: Uint8Array[] = [];

  constructor(readonly capacityBytes: number, readonly maxAgeMs: number) {}

  get usedBytes(): number {
    return this.reservedBytes;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Reserves room for a push of `sizeBytes`; throws UNAVAILABLE when it cannot fit. */
  begin(dataId: string, sizeBytes: number, nowMs: number, crc?: number, sender?: string): void {
    if (sizeBytes > this.capacityBytes) {
      throw new GfsError(ErrorCode.INVALID_ARGUMENT, `push of ${sizeBytes} bytes exceeds the push buffer (${this.capacityBytes})`);
    }
    this.drop(dataId);
    this.expire(nowMs);
    if (sender !== undefined && (this.bySender.get(sender) ?? 0) + sizeBytes > Math.max(sizeBytes, this.capacityBytes * SENDER_SHARE)) {
      throw new GfsError(ErrorCode.UNAVAILABLE, "this sender's share of the push buffer is full, try again");
    }
    for (const e of this.entries.values()) {
      if (this.reservedBytes + sizeBytes <= this.capacityBytes) break;
      if (e.receivedBytes === e.buf.byteLength) this.drop(e.dataId);
    }
    if (this.reservedBytes + sizeBytes > this.capacityBytes) {
      throw new GfsError(ErrorCode.UNAVAILABLE, "push buffer is full, try again");
    }
    this.entries.set(dataId, { dataId, buf: this.allocate(sizeBytes), crc, sender, receivedBytes: 0, touchedMs: nowMs });
    this.reservedBytes += sizeBytes;
    if (sender !== undefined) this.bySender.set(sender, (this.bySender.get(sender) ?? 0) + sizeBytes);
  }

  /** Adds the next piece; returns true when the push is complete. */
  add(dataId: string, part: Uint8Array, nowMs: number): boolean {
    const e = this.entries.get(dataId);
    if (!e) throw new GfsError(ErrorCode.NO_DATA, `data ${dataId} was not announced or was dropped`);
    if (e.receivedBytes + part.byteLength > e.buf.byteLength) {
      throw new GfsError(ErrorCode.INVALID_ARGUMENT, `data ${dataId} is longer than announced`);
    }
    e.buf.set(part, e.receivedBytes);
    e.receivedBytes += part.byteLength;
    e.touchedMs = nowMs;
    return e.receivedBytes === e.buf.byteLength;
  }

  has(dataId: string): boolean {
    return this.entries.has(dataId);
  }

  isComplete(dataId: string): boolean {
    const e = this.entries.get(dataId);
    return !!e && e.receivedBytes === e.buf.byteLength;
  }

  /** How many bytes of the push have arrived so far. */
  receivedBytes(dataId: string): number {
    return this.entries.get(dataId)?.receivedBytes ?? 0;
  }

  /** The whole buffer of a push, filled as pieces arrive (a view, valid until recycled). */
  whole(dataId: string): Uint8Array | undefined {
    return this.entries.get(dataId)?.buf;
  }

  /** Returns the complete data and forgets it; hand the bytes to `recycle` once written. */
  take(dataId: string): Pushed {
    const e = this.entries.get(dataId);
    if (!e || e.receivedBytes !== e.buf.byteLength) {
      throw new GfsError(ErrorCode.NO_DATA, `data ${dataId} is not here (never pushed, incomplete, or aged out)`);
    }
    this.forget(e);
    return { data: e.buf, crc: e.crc };
  }

  /** Gives back a buffer from `take` that nothing refers to any more. */
  recycle(buf: Uint8Array): void {
    if (buf.byteLength >= 64 * 1024 && this.pool.length < POOL_MAX_BUFFERS && buf.byteOffset === 0 && buf.buffer.byteLength === buf.byteLength) {
      this.pool.push(buf);
    }
  }

  drop(dataId: string): void {
    const e = this.entries.get(dataId);
    if (e) this.forget(e);
  }

  private forget(e: Entry): void {
    this.entries.delete(e.dataId);
    this.reservedBytes -= e.buf.byteLength;
    if (e.sender === undefined) return;
    const left = this.bySender.get(e.sender)! - e.buf.byteLength;
    if (left > 0) this.bySender.set(e.sender, left);
    else this.bySender.delete(e.sender);
  }

  expire(nowMs: number): void {
    for (const e of this.entries.values()) {
      if (nowMs - e.touchedMs > this.maxAgeMs) this.drop(e.dataId);
    }
  }

  private allocate(size: number): Uint8Array {
    const i = this.pool.findIndex((b) => b.byteLength === size);
    if (i >= 0) return this.pool.splice(i, 1)[0]!;
    return Buffer.allocUnsafeSlow(size); // filled by the push before use
  }
}
