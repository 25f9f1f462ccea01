// The operation log (M5): every metadata change is appended and made durable
// before the client hears of success. Changes that arrive while a write is
// under way are written together by the next one (group commit), so one
// durable write covers many clients. The write itself is synchronous: while
// it runs (one disk flush, ~0.15 ms here) new requests wait in the socket
// buffers and form the next batch; a thread-pool round trip per batch cost
// more than the flush.
//
// The file is opened with O_DSYNC and preallocated with zeros ahead of the
// write position: a write into already-allocated blocks is durable without a
// file-size update, which halves the cost of each commit. A zero length prefix
// marks the end of the log (see records.ts).
import { constants, writeSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { assert } from "../../net/errors";
import { GatherWait } from "./batch-gathering";
import { encodeRecord } from "./records";
import { encodeBatch } from "./replicated-log";
import type { Op } from "./state";

export const PREALLOC_BYTES = 4 * 1024 * 1024;
/** A local copy (not durable) is written at most this often, unless this many bytes wait. */
const COPY_GATHER_MS = 20;
const COPY_GATHER_BYTES = 256 * 1024;

export function logFileName(seq: number): string {
  return `log.${String(seq).padStart(10, "0")}`;
}

interface Waiter {
  resolve(): void;
  reject(e: Error): void;
}

export class OpLog {
  private fh: FileHandle | null = null;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private pendingRecords = 0;
  /** Durable log: when the next write goes (batch-gathering.ts). */
  private readonly gathering = new GatherWait();
  private waiters: Waiter[] = [];
  private flushing = false;
  private failed: Error | null = null;
  private rotation: { resolve(seq: number): void; reject(e: Error): void } | null = null;
  /** Bytes of records in the current log file (the write position). */
  bytes = 0;
  /** Bytes of the file that exist on disk (records plus zeros ahead). */
  private allocatedBytes = 0;
  seq = 0;
  /** Sequence number the next change gets (consecutive across log files). */
  nextOp = 1;
  /** Records written since start, and durable writes that carried them. */
  stats = { records: 0, flushes: 0 };
  /** Told after each durable write: how many records it carried and how long it took. */
  onFlush: ((records: number, ms: number) => void) | null = null;

  /**
   * `durable` false (HA: etcd holds the log, this is a local copy that
   * checkpoints are built from): writes are not synced and are gathered for
   * up to COPY_GATHER_MS, which keeps them off the commit path. A copy cut
   * short by a crash is read up to its last good record, and the rest comes
   * from etcd again.
   */
  constructor(readonly dir: string, readonly preallocBytes = PREALLOC_BYTES, readonly durable = true) {}

  /** Opens log `seq` to continue after its first `existingBytes` bytes; the next change is number `nextOp`. */
  async openSeq(seq: number, existingBytes: number, nextOp = 1): Promise<void> {
    await this.idle();
    this.nextOp = nextOp;
    const next = await this.openFile(seq);
    const prev = this.fh;
    this.fh = next;
    this.seq = seq;
    this.bytes = existingBytes;
    this.allocatedBytes = (await next.stat()).size;
    await prev?.close();
  }

  /**
   * Switches to log seq+1 between two writes; resolves with the new number.
   * Every record appended before the call is in the old file.
   */
  rotate(): Promise<number> {
    if (this.rotation) return Promise.reject(new Error("a rotation is already under way"));
    const p = new Promise<number>((resolve, reject) => (this.rotation = { resolve, reject }));
    if (!this.flushing) void this.flushLoop();
    return p;
  }

  /** Numbers (unless numbered) and appends one change; resolves once it is on disk. */
  append(op: Op): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    // A change numbered already (HA: by the log in etcd) must be the next one here too.
    if (op.q !== undefined) assert(op.q === this.nextOp, `change ${op.q} is logged locally after change ${this.nextOp - 1}`);
    op.q = this.nextOp++;
    const rec = encodeRecord(op);
    this.pending.push(rec);
    this.pendingBytes += rec.byteLength;
    this.pendingRecords++;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.flushing) void this.flushLoop();
    else this.gathering.offered(this.pendingRecords);
    return done;
  }

  /**
   * Appends `count` changes already numbered and encoded as records (HA: the
   * bytes of a batch committed in etcd), the first of them number `firstOp`.
   */
  appendEncoded(records: Uint8Array, firstOp: number, count: number): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    assert(count > 0 && firstOp === this.nextOp, `changes ${firstOp}.. are logged locally after change ${this.nextOp - 1}`);
    this.nextOp += count;
    this.pending.push(records);
    this.pendingBytes += records.byteLength;
    this.pendingRecords += count;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.flushing) void this.flushLoop();
    else this.gathering.offered(this.pendingRecords);
    return done;
  }

  /** Resolves when nothing is waiting to be written. */
  async idle(): Promise<void> {
    while (this.flushing || this.pending.length > 0) {
      await new Promise<void>((r) => this.waiters.push({ resolve: r, reject: () => r() }));
    }
  }

  async close(): Promise<void> {
    await this.idle();
    await this.fh?.close();
    this.fh = null;
  }

  private openFile(seq: number): Promise<FileHandle> {
    return open(join(this.dir, logFileName(seq)), constants.O_RDWR | constants.O_CREAT | (this.durable ? constants.O_DSYNC : 0), 0o644);
  }

  /** Makes sure zeros are on disk past `end`, so the next writes need no size change. */
  private async reserve(end: number): Promise<void> {
    if (end <= this.allocatedBytes) return;
    const target = Math.ceil((end + this.preallocBytes) / this.preallocBytes) * this.preallocBytes;
    const zeros = new Uint8Array(Math.min(target - this.allocatedBytes, 1 << 20));
    for (let at = this.allocatedBytes; at < target; ) {
      const n = Math.min(zeros.byteLength, target - at);
      await this.fh!.write(zeros, 0, n, at);
      at += n;
    }
    this.allocatedBytes = target;
  }

  private async flushLoop(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pending.length > 0 || this.rotation) {
        if (this.rotation && this.pending.length === 0) {
          const r = this.rotation;
          this.rotation = null;
          try {
            const next = await this.openFile(this.seq + 1);
            await this.fh?.close();
            this.fh = next;
            this.seq++;
            this.bytes = 0;
            this.allocatedBytes = (await next.stat()).size;
            r.resolve(this.seq);
          } catch (err) {
            r.reject(err as Error);
          }
          continue;
        }
        // The durable log waits for the clients it just answered (batch-gathering.ts); a copy that is not synced
        // gathers what comes in for a while: one write instead of one per committed batch.
        if (!this.rotation) {
          if (this.durable) await this.gathering.wait(this.pendingRecords);
          else if (this.pendingBytes < COPY_GATHER_BYTES) await sleep(COPY_GATHER_MS);
        }
        const batch = this.pending;
        const bytes = this.pendingBytes;
        const records = this.pendingRecords;
        const waiters = this.waiters;
        this.pending = [];
        this.pendingBytes = 0;
        this.pendingRecords = 0;
        this.waiters = [];
        const buf = encodeBatch(batch);
        try {
          assert(this.fh !== null, "the operation log is open");
          await this.reserve(this.bytes + buf.byteLength);
          // One synchronous durable write: requests that arrive meanwhile wait in
          // the socket buffers and form the next batch.
          let done = 0;
          const t0 = performance.now();
          while (done < buf.byteLength) done += writeSync(this.fh.fd, buf, done, buf.byteLength - done, this.bytes + done);
          this.onFlush?.(records, performance.now() - t0);
        } catch (err) {
          // A log that cannot be written stops every later change: acknowledging
          // one would promise durability we do not have.
          this.failed = new Error(`operation log write failed: ${(err as Error).message}`);
          for (const w of waiters) w.reject(this.failed);
          for (const w of this.waiters) w.reject(this.failed);
          this.waiters = [];
          this.pending = [];
          this.pendingBytes = 0;
          this.pendingRecords = 0;
          return;
        }
        this.bytes += bytes;
        this.gathering.written(records, this.pendingRecords);
        this.stats.records += records;
        this.stats.flushes++;
        for (const w of waiters) w.resolve();
        // Let the replies go out and new requests come in before the next write.
        await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      this.flushing = false;
    }
    // Wake idle() waiters that registered with nothing pending.
    const rest = this.waiters;
    if (this.pending.length === 0 && rest.length > 0) {
      this.waiters = [];
      for (const w of rest) w.resolve();
    }
  }
}
