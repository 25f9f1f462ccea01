// The client's cache of chunk locations (L1): entries expire after `ttlMs` and
// are dropped when a replica fails, so a retry asks the master again. Pure.
import type { ChunkLocation } from "../../net/messages";

interface Entry {
  loc: ChunkLocation;
  fetchedMs: number;
}

export interface FileShape {
  chunkSize: number;
  size: number;
  chunkCount: number;
}

export class LocationCache {
  private readonly files = new Map<string, { shape: FileShape; fetchedMs: number; chunks: Map<number, Entry> }>();

  constructor(readonly ttlMs: number, readonly maxFiles = 1024) {}

  get(path: string, index: number, nowMs: number): ChunkLocation | undefined {
    const f = this.files.get(path);
    const e = f?.chunks.get(index);
    if (!e) return undefined;
    if (nowMs - e.fetchedMs > this.ttlMs) {
      f!.chunks.delete(index);
      return undefined;
    }
    return e.loc;
  }

  shape(path: string, nowMs: number): FileShape | undefined {
    const f = this.files.get(path);
    return f && nowMs - f.fetchedMs <= this.ttlMs ? f.shape : undefined;
  }

  put(path: string, shape: FileShape, chunks: readonly ChunkLocation[], nowMs: number): void {
    let f = this.files.get(path);
    if (!f) {
      if (this.files.size >= this.maxFiles) this.files.delete(this.files.keys().next().value!);
      f = { shape, fetchedMs: nowMs, chunks: new Map() };
      this.files.set(path, f);
    }
    f.shape = shape;
    f.fetchedMs = nowMs;
    for (const c of chunks) f.chunks.set(c.index, { loc: c, fetchedMs: nowMs });
  }

  invalidate(path: string, index?: number): void {
    if (index === undefined) this.files.delete(path);
    else this.files.get(path)?.chunks.delete(index);
  }
}
