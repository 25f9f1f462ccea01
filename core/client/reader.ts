// Reading a file (L1, L2): chunk by chunk, several pieces in flight from one
// replica, yielded in order. A failed or corrupt replica is skipped for the
// next; when all fail the locations are fetched again, until a deadline.
import { ErrorCode, GfsError } from "../../net/errors";
import type { ChunkLocation, ReplicaRef } from "../../net/messages";
import { sleep, type GfsClient } from "./client";

export interface ReadOptions {
  offset?: number;
  length?: number;
}

const PIECE_BYTES = 1024 * 1024;
const WINDOW = 8;

interface Piece {
  data: Uint8Array;
  chunkBytes: number;
}

export async function* readChunks(client: GfsClient, path: string, opts: ReadOptions): AsyncGenerator<Uint8Array> {
  let pos = Math.max(0, opts.offset ?? 0);
  const end = opts.length !== undefined ? pos + Math.max(0, opts.length) : Infinity;
  const cs = (await client.locate(path, 0)).chunkSize;
  while (pos < end) {
    const index = Math.floor(pos / cs);
    const { loc, chunkCount } = await client.locate(path, index);
    if (index >= chunkCount) break;
    const chunk = new ChunkReader(client, path, index, loc);
    const chunkStart = index * cs;
    for await (const data of chunk.stream(pos - chunkStart, Math.min(cs, end - chunkStart))) {
      yield data;
      pos += data.byteLength;
    }
    if (pos < chunkStart + cs) {
      if (index >= chunkCount - 1) break; // the last chunk ends here
      pos = chunkStart + cs; // a short chunk in the middle: nothing more in it
    }
  }
}

class ChunkReader {
  private readonly failed = new Set<string>();

  constructor(
    private readonly client: GfsClient,
    private readonly path: string,
    private readonly index: number,
    private loc: ChunkLocation | undefined,
  ) {}

  async *stream(from: number, wantedEnd: number): AsyncGenerator<Uint8Array> {
    if (from >= wantedEnd) return;
    const firstLen = Math.min(PIECE_BYTES, wantedEnd - from);
    const head = await this.readPiece(from, firstLen);
    const limit = Math.min(wantedEnd, head.chunkBytes);
    const queue: { offset: number; len: number; p: Promise<Piece> }[] = [];
    let next = from + head.data.byteLength;
    const fill = () => {
      while (queue.length < WINDOW && next < limit) {
        const len = Math.min(PIECE_BYTES, limit - next);
        const p = this.readPiece(next, len);
        p.catch(() => {}); // awaited below, in order
        queue.push({ offset: next, len, p });
        next += len;
      }
    };
    if (head.data.byteLength === 0) return;
    yield head.data;
    if (head.data.byteLength < firstLen) return;
    fill();
    while (queue.length > 0) {
      const { len, p } = queue.shift()!;
      const piece = await p;
      if (piece.data.byteLength > 0) yield piece.data;
      if (piece.data.byteLength < len) return; // this replica's chunk ends here
      fill();
    }
  }

  /** One piece, with failover across replicas and location refreshes. */
  private async readPiece(offset: number, length: number): Promise<Piece> {
    const deadline = Date.now() + this.client.retryMs;
    let delayMs = 50;
    let lastErr: Error | null = null;
    for (;;) {
      const replicas = this.candidates();
      for (const r of replicas) {
        try {
          const peer = await this.client.pool.get(r.addr);
          const rep = await peer.call("read", { handle: this.loc!.handle, version: this.loc!.version, offset, length });
          return { data: rep.data, chunkBytes: rep.chunkBytes };
        } catch (err) {
          lastErr = err as Error;
          if (err instanceof GfsError && err.code === ErrorCode.AUTH) throw err;
          this.failed.add(r.id);
        }
      }
      if (Date.now() + delayMs > deadline) {
        const why = replicas.length === 0 ? "no live replica is known" : `every replica failed (last: ${lastErr?.message})`;
        throw new GfsError(ErrorCode.UNAVAILABLE, `cannot read ${this.path} chunk ${this.index}: ${why}`);
      }
      await sleep(delayMs);
      delayMs = Math.min(delayMs * 2, 1_000);
      // Ask the master again: servers may have re-registered or versions changed.
      const fresh = await this.client.locate(this.path, this.index, true);
      if (!fresh.loc) throw new GfsError(ErrorCode.NOT_FOUND, `${this.path} no longer has chunk ${this.index}`);
      if (!this.loc || fresh.loc.version !== this.loc.version || fresh.loc.handle !== this.loc.handle) this.failed.clear();
      else for (const r of fresh.loc.replicas) if (!this.loc.replicas.some((o) => o.id === r.id)) this.failed.delete(r.id);
      if (this.failed.size >= fresh.loc.replicas.length) this.failed.clear();
      this.loc = fresh.loc;
    }
  }

  /** Replicas not yet failed, nearest first, rotated by chunk index to spread load. */
  private candidates(): ReplicaRef[] {
    if (!this.loc) return [];
    const ordered = this.client.nearest(this.loc.replicas).filter((r) => !this.failed.has(r.id));
    if (ordered.length < 2) return ordered;
    const k = this.index % ordered.length;
    return [...ordered.slice(k), ...ordered.slice(0, k)];
  }
}
