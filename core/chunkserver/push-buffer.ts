// Pushed data waiting for the write or append that uses it (C4). Bounded in
// bytes; when a new push does not fit, the least recently used complete
// entries are dropped (their writes fail with NO_DATA and the client pushes
// again); entries unused for `maxAgeMs` are aged out. Pure: time is passed in.
import { ErrorCode, GfsError, assert } from "../../net/errors";

interface Entry {
  dataId: string;
  sizeBytes: number;
  parts: Uint8Array[];
  receivedBytes: number;
  touchedMs: number;
}

export class PushBuffer {
  private readonly entries = new Map<string, Entry>(); // insertion order = LRU order
  private reservedBytes = 0;

  constructor(readonly capacityBytes: number, readonly maxAgeMs: number) {}

  get usedBytes(): number {
    return this.reservedBytes;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Reserves room for a push of `sizeBytes`; throws UNAVAILABLE when it cannot fit. */
  begin(dataId: string, sizeBytes: number, nowMs: number): void {
    if (sizeBytes > this.capacityBytes) {
      throw new GfsError(ErrorCode.INVALID_ARGUMENT, `push of ${sizeBytes} bytes exceeds the push buffer (${this.capacityBytes})`);
    }
    this.drop(dataId);
    this.expire(nowMs);
    for (const e of this.entries.values()) {
      if (this.reservedBytes + sizeBytes <= this.capacityBytes) break;
      if (e.receivedBytes === e.sizeBytes) this.drop(e.dataId);
    }
    if (this.reservedBytes + sizeBytes > this.capacityBytes) {
      throw new GfsError(ErrorCode.UNAVAILABLE, "push buffer is full, try again");
    }
    this.entries.set(dataId, { dataId, sizeBytes, parts: [], receivedBytes: 0, touchedMs: nowMs });
    this.reservedBytes += sizeBytes;
  }

  /** Adds a piece; returns true when the push is complete. */
  add(dataId: string, part: Uint8Array, nowMs: number): boolean {
    const e = this.entries.get(dataId);
    if (!e) throw new GfsError(ErrorCode.NO_DATA, `data ${dataId} was not announced or was dropped`);
    if (e.receivedBytes + part.byteLength > e.sizeBytes) {
      throw new GfsError(ErrorCode.INVALID_ARGUMENT, `data ${dataId} is longer than announced`);
    }
    e.parts.push(part);
    e.receivedBytes += part.byteLength;
    e.touchedMs = nowMs;
    return e.receivedBytes === e.sizeBytes;
  }

  isComplete(dataId: string): boolean {
    const e = this.entries.get(dataId);
    return !!e && e.receivedBytes === e.sizeBytes;
  }

  parts(dataId: string): readonly Uint8Array[] {
    return this.entries.get(dataId)?.parts ?? [];
  }

  /** Returns the complete data and forgets it. */
  take(dataId: string): Uint8Array {
    const e = this.entries.get(dataId);
    if (!e || e.receivedBytes !== e.sizeBytes) {
      throw new GfsError(ErrorCode.NO_DATA, `data ${dataId} is not here (never pushed, incomplete, or aged out)`);
    }
    this.drop(dataId);
    if (e.parts.length === 1) return e.parts[0]!;
    const out = new Uint8Array(e.sizeBytes);
    let at = 0;
    for (const p of e.parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    assert(at === e.sizeBytes, "pushed parts add up to the announced size");
    return out;
  }

  drop(dataId: string): void {
    const e = this.entries.get(dataId);
    if (!e) return;
    this.entries.delete(dataId);
    this.reservedBytes -= e.sizeBytes;
  }

  expire(nowMs: number): void {
    for (const e of this.entries.values()) {
      if (nowMs - e.touchedMs > this.maxAgeMs) this.drop(e.dataId);
    }
  }
}
