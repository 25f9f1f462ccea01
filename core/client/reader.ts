// Reading a file (L1, L2): pieces are requested ahead in one window that runs
// across chunk boundaries, spread over the replicas of each chunk (so several
// servers read and verify at once), and yielded in file order.
// A failed or corrupt replica is skipped for the next; when all fail the
// locations are fetched again, until a deadline. Memory stays bounded by the
// window whatever the file size.
import { ErrorCode, GfsError } from "../../net/errors";
import type { ChunkLocation, ReplicaRef } from "../../net/messages";
import { transitCrc } from "../checksums";
import { handleName } from "../handles";
import { sleep, type GfsClient } from "./client";

export interface ReadOptions {
  offset?: number;
  length?: number;
}

const PIECE_BYTES = 1024 * 1024;
const WINDOW = 12;
/** A replica that has not answered a piece within this long is joined by the next one. */
const HEDGE_MS = 1_000;

interface Piece {
  data: Uint8Array;
  chunkBytes: number;
}

interface Planned {
  index: number;
  offset: number; // within the chunk
  len: number;
  p: Promise<Piece>;
}

export async function* readChunks(client: GfsClient, path: string, opts: ReadOptions): AsyncGenerator<Uint8Array> {
  const start = Math.max(0, opts.offset ?? 0);
  const end = opts.length !== undefined ? start + Math.max(0, opts.length) : Infinity;
  const first = await client.locate(path, 0);
  const cs = first.chunkSize;
  let chunkCount = first.chunkCount;
  const readers = new Map<number, ChunkReader>();
  const readerFor = async (index: number): Promise<ChunkReader> => {
    let r = readers.get(index);
    if (!r) {
      const { loc, chunkCount: n } = await client.locate(path, index);
      chunkCount = Math.max(chunkCount, n);
      r = new ChunkReader(client, path, index, loc);
      readers.set(index, r);
    }
    return r;
  };

  // The next piece to plan: chunk index and offset within it.
  let planIndex = Math.floor(start / cs);
  let planOffset = start - planIndex * cs;
  let stopped = false; // a short piece ended the file
  const queue: Planned[] = [];
  const plan = () => {
    while (!stopped && queue.length < WINDOW && planIndex < chunkCount && planIndex * cs + planOffset < end) {
      const index = planIndex;
      const offset = planOffset;
      const len = Math.min(PIECE_BYTES, cs - offset, end - (index * cs + offset));
      const p = readerFor(index).then((r) => r.readPiece(offset, len));
      p.catch(() => {}); // awaited below, in order
      queue.push({ index, offset, len, p });
      planOffset += len;
      if (planOffset >= cs) {
        planIndex++;
        planOffset = 0;
      }
    }
  };

  plan();
  while (queue.length > 0) {
    const piece = queue.shift()!;
    const got = await piece.p;
    if (got.data.byteLength > 0) yield got.data;
    if (got.data.byteLength < piece.len) {
      // This chunk ends here. Pieces planned after it in the same chunk read
      // nothing; drop them and go on with the next chunk, if there is one.
      while (queue.length > 0 && queue[0]!.index === piece.index) queue.shift();
      if (piece.index >= chunkCount - 1) {
        stopped = true;
        queue.length = 0;
        break;
      }
      if (planIndex === piece.index) {
        planIndex++;
        planOffset = 0;
      }
    }
    readers.delete(piece.index - 1);
    plan();
  }
}

class ChunkReader {
  private readonly failed = new Set<string>();
  private lastErr: Error | null = null;

  constructor(
    private readonly client: GfsClient,
    private readonly path: string,
    private readonly index: number,
    private loc: ChunkLocation | undefined,
  ) {}

  /** One piece, with failover across replicas and location refreshes. */
  async readPiece(offset: number, length: number): Promise<Piece> {
    const retrier = this.client.retrier();
    let delayMs = 50;
    for (;;) {
      const replicas = this.candidates(offset);
      const got = await this.firstAnswer(replicas, offset, length);
      if (got) return got;
      const why = replicas.length === 0 ? "no live replica is known" : `every replica failed (last: ${this.lastErr?.message})`;
      if (!retrier.retry(`reading ${this.path} chunk ${this.index}: ${why}`, delayMs)) throw new GfsError(ErrorCode.UNAVAILABLE, `cannot read ${this.path} chunk ${this.index}: ${why}`);
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

  /**
   * Asks the replicas in turn: one that has not answered within HEDGE_MS is
   * joined by the next (a stalled server costs a second, not minutes), one
   * that fails is replaced at once. The first good answer wins; null when
   * every replica failed.
   */
  private firstAnswer(replicas: ReplicaRef[], offset: number, length: number): Promise<Piece | null> {
    return new Promise((resolve, reject) => {
      let next = 0;
      let running = 0;
      let done = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (piece: Piece | null, err?: unknown) => {
        done = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(piece);
      };
      const launch = () => {
        if (done) return;
        clearTimeout(timer);
        if (next >= replicas.length) {
          if (running === 0) finish(null);
          return;
        }
        const r = replicas[next++]!;
        running++;
        timer = setTimeout(() => {
          this.client.slowServer(r.addr);
          launch();
        }, HEDGE_MS);
        this.readFrom(r, offset, length).then(
          (piece) => {
            running--;
            this.client.answered(r.addr);
            if (!done) finish(piece);
          },
          (err) => {
            running--;
            if (done) return;
            if (err instanceof GfsError && err.code === ErrorCode.AUTH) return finish(null, err);
            this.lastErr = err as Error;
            this.failed.add(r.id);
            launch();
          },
        );
      };
      launch();
    });
  }

  private async readFrom(r: ReplicaRef, offset: number, length: number): Promise<Piece> {
    const peer = await this.client.pool.get(r.addr);
    const rep = await peer.call("read", { handle: this.loc!.handle, version: this.loc!.version, offset, length });
    // Bytes the master knows were acknowledged are on every current
    // replica: one that ends before them is damaged, never the file's end.
    if (rep.chunkBytes < this.loc!.size) {
      throw new GfsError(ErrorCode.STALE, `replica of chunk ${handleName(this.loc!.handle)} on ${r.addr} holds ${rep.chunkBytes} bytes, fewer than the ${this.loc!.size} acknowledged`);
    }
    if (transitCrc(rep.data) !== rep.crc) {
      throw new GfsError(ErrorCode.CHECKSUM, `a read of chunk ${handleName(this.loc!.handle)} from ${r.addr} arrived damaged (checksum mismatch)`);
    }
    return { data: rep.data, chunkBytes: rep.chunkBytes };
  }

  /**
   * Replicas not yet failed, nearest first, rotated piece by piece: the
   * pieces of one chunk are read and verified by all its replicas at once.
   */
  private candidates(offset: number): ReplicaRef[] {
    if (!this.loc) return [];
    const ordered = this.client.nearest(this.loc.replicas).filter((r) => !this.failed.has(r.id));
    if (ordered.length < 2) return ordered;
    const k = (this.index + Math.floor(offset / PIECE_BYTES)) % ordered.length;
    const rotated = [...ordered.slice(k), ...ordered.slice(0, k)];
    // Servers that were slow to answer lately go last.
    return [...rotated.filter((r) => !this.client.isSlow(r.addr)), ...rotated.filter((r) => this.client.isSlow(r.addr))];
  }
}
