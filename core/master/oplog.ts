// The operation log (M5): every metadata change is appended and flushed to
// disk before the client hears of success. Changes that arrive while a flush
// is running are written together by the next one (group commit), so one
// fdatasync covers many clients.
import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { assert } from "../../net/errors";
import { encodeRecord } from "./records";

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
  private waiters: Waiter[] = [];
  private flushing = false;
  private failed: Error | null = null;
  private rotation: { resolve(seq: number): void; reject(e: Error): void } | null = null;
  /** Bytes in the current log file. */
  bytes = 0;
  seq = 0;
  /** Records written since start, and flushes (fdatasync calls) that carried them. */
  stats = { records: 0, flushes: 0 };

  constructor(readonly dir: string) {}

  async openSeq(seq: number, existingBytes: number): Promise<void> {
    await this.idle();
    const next = await open(join(this.dir, logFileName(seq)), "a");
    const prev = this.fh;
    this.fh = next;
    this.seq = seq;
    this.bytes = existingBytes;
    await prev?.close();
  }

  /**
   * Switches to log seq+1 between two flushes; resolves with the new number.
   * Every record appended before the call is in the old file.
   */
  rotate(): Promise<number> {
    if (this.rotation) return Promise.reject(new Error("a rotation is already under way"));
    const p = new Promise<number>((resolve, reject) => (this.rotation = { resolve, reject }));
    if (!this.flushing) void this.flushLoop();
    return p;
  }

  /** Appends one record; resolves once it is on disk. */
  append(value: unknown): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    const rec = encodeRecord(value);
    this.pending.push(rec);
    this.pendingBytes += rec.byteLength;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.flushing) void this.flushLoop();
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

  private async flushLoop(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pending.length > 0 || this.rotation) {
        if (this.rotation && this.pending.length === 0) {
          const r = this.rotation;
          this.rotation = null;
          try {
            const next = await open(join(this.dir, logFileName(this.seq + 1)), "a");
            await this.fh?.close();
            this.fh = next;
            this.seq++;
            this.bytes = 0;
            r.resolve(this.seq);
          } catch (err) {
            r.reject(err as Error);
          }
          continue;
        }
        const batch = this.pending;
        const bytes = this.pendingBytes;
        const waiters = this.waiters;
        this.pending = [];
        this.pendingBytes = 0;
        this.waiters = [];
        const buf = batch.length === 1 ? batch[0]! : concat(batch, bytes);
        try {
          assert(this.fh !== null, "the operation log is open");
          let done = 0;
          while (done < buf.byteLength) done += (await this.fh.write(buf, done, buf.byteLength - done)).bytesWritten;
          await this.fh.datasync();
        } catch (err) {
          // A log that cannot be written stops every later change: acknowledging
          // one would promise durability we do not have.
          this.failed = new Error(`operation log write failed: ${(err as Error).message}`);
          for (const w of waiters) w.reject(this.failed);
          for (const w of this.waiters) w.reject(this.failed);
          this.waiters = [];
          this.pending = [];
          return;
        }
        this.bytes += bytes;
        this.stats.records += batch.length;
        this.stats.flushes++;
        for (const w of waiters) w.resolve();
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

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
