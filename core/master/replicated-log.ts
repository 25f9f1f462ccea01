// The operation log in etcd (M16, HA mode). The leader writes each
// group-commit batch as one etcd transaction that puts the batch under
// PREFIX/log/<number of its first change>, on condition that its election key
// is still the one it created: a deposed leader's write fails, so it can
// never commit again. A change is acknowledged only once that transaction
// has committed, so it is on a majority of etcd members. Every master (the
// leader's standbys by reading and watching the key range) applies the same
// batches in order. The key layout and the choice of what to delete are plain
// functions here; the writer is the only part that talks to etcd.
import { ErrorCode, GfsError, assert } from "../../net/errors";
import type { EtcdClient } from "./etcd-client";
import { GatherWait } from "./batch-gathering";
import { decodeRecords, encodeRecord } from "./records";
import type { Op } from "./state";

/** Bytes of records in one etcd transaction at most: etcd refuses requests over 1.5 MiB by default. */
export const MAX_BATCH_BYTES = 768 * 1024;

export function logPrefix(prefix: string): string {
  return `${prefix}/log/`;
}

/** The key of the batch whose first change is number `first`: zero-padded, so key order is log order. */
export function batchKey(prefix: string, first: number): string {
  assert(Number.isSafeInteger(first) && first >= 1, "a batch starts at change 1 or later");
  return `${logPrefix(prefix)}${String(first).padStart(16, "0")}`;
}

/** The number of the first change of the batch stored under `key`. */
export function batchFirst(prefix: string, key: string): number {
  const n = Number(key.slice(logPrefix(prefix).length));
  if (!Number.isSafeInteger(n) || n < 1) throw new GfsError(ErrorCode.PROTOCOL, `not a log batch key: ${key}`);
  return n;
}

/** A batch is its changes' records (records.ts), back to back (one record: itself, not a copy). */
export function encodeBatch(records: Uint8Array[]): Uint8Array {
  if (records.length === 1) return records[0]!;
  const out = new Uint8Array(records.reduce((n, r) => n + r.byteLength, 0));
  let at = 0;
  for (const r of records) {
    out.set(r, at);
    at += r.byteLength;
  }
  return out;
}

export interface DecodedBatch {
  ops: Op[];
  /** Where each change's record starts in the batch's bytes. */
  offsets: number[];
}

/** The changes of one batch, checked: whole, numbered consecutively from the key's number. */
export function decodeBatch(first: number, bytes: Uint8Array): DecodedBatch {
  const { values, offsets, damaged } = decodeRecords(bytes);
  if (damaged || values.length === 0) throw new GfsError(ErrorCode.PROTOCOL, `log batch ${first} in etcd is damaged`);
  const ops = values as Op[];
  ops.forEach((op, i) => {
    if (op.q !== first + i) throw new GfsError(ErrorCode.PROTOCOL, `log batch ${first} holds change ${op.q} at position ${i}`);
  });
  return { ops, offsets };
}

/**
 * Batches that every master has past: those whose every change is at or
 * below `upTo` (the lowest change number any master has checkpointed). A
 * batch's last change is one before the next batch's first, so the newest
 * batch is never chosen.
 */
export function prunableBatches(firsts: number[], upTo: number): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < firsts.length; i++) if (firsts[i + 1]! - 1 <= upTo) out.push(firsts[i]!);
  return out;
}

/** Splits changes into batches of at most MAX_BATCH_BYTES of records (a change is never split). */
export function splitBatches(records: Uint8Array[], maxBytes = MAX_BATCH_BYTES): number[] {
  const sizes: number[] = [];
  let n = 0;
  let bytes = 0;
  for (const r of records) {
    if (n > 0 && bytes + r.byteLength > maxBytes) {
      sizes.push(n);
      n = 0;
      bytes = 0;
    }
    n++;
    bytes += r.byteLength;
  }
  if (n > 0) sizes.push(n);
  return sizes;
}

interface Waiter {
  resolve(): void;
  reject(e: Error): void;
}

/**
 * The leader's side: numbers changes, writes them to etcd in group-commit
 * batches fenced by the election key, and resolves each change once its
 * batch has committed. After any failed write it accepts nothing more: the
 * caller steps down and rebuilds from what etcd holds (a write whose answer
 * was lost may or may not have committed).
 */
export class ReplicatedLogWriter {
  private pending: { op: Op; rec: Uint8Array; waiter: Waiter }[] = [];
  private flushing = false;
  private failed: GfsError | null = null;
  /** Told after each committed batch, in order: its changes, their records and how long the transaction took. */
  onCommit: ((ops: Op[], records: Uint8Array, ms: number) => void) | null = null;
  stats = { records: 0, flushes: 0 };
  private readonly gathering = new GatherWait();

  constructor(
    private readonly etcd: EtcdClient,
    private readonly prefix: string,
    /** The election key and its create revision (the leader's epoch). */
    private readonly electionKey: string,
    readonly epoch: number,
    /** The number the next change gets. */
    public nextOp: number,
    private readonly onFailed: (err: GfsError) => void,
  ) {}

  get closed(): boolean {
    return this.failed !== null;
  }

  append(op: Op): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    op.q = this.nextOp++;
    const rec = encodeRecord(op);
    const done = new Promise<void>((resolve, reject) => this.pending.push({ op, rec, waiter: { resolve, reject } }));
    if (!this.flushing) void this.flushLoop();
    else this.gathering.offered(this.pending.length);
    return done;
  }

  /** Refuses every change from now on (leadership lost). */
  close(err: GfsError): void {
    if (this.failed) return;
    this.failed = err;
    for (const p of this.pending) p.waiter.reject(err);
    this.pending = [];
    this.gathering.end();
  }

  /** Writes one batch as one transaction, on condition that this master still leads: null once it has committed, else why not. */
  private commitBatch(first: number, records: Uint8Array): Promise<string | null> {
    return this.etcd
      .txn([{ key: this.electionKey, createRevision: this.epoch }], [{ put: { key: batchKey(this.prefix, first), value: records } }])
      .then(
        (r) => (r.succeeded ? null : `this master is no longer the leader (its election key of epoch ${this.epoch} is gone)`),
        (err) => `the operation log could not be written to etcd: ${(err as Error).message}`,
      );
  }

  private async flushLoop(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pending.length > 0 && !this.failed) {
        await this.gathering.wait(this.pending.length);
        if (this.pending.length === 0 || this.failed) break;
        const batch = this.pending.splice(0, splitBatches(this.pending.map((p) => p.rec))[0]!);
        const records = encodeBatch(batch.map((b) => b.rec));
        const startedMs = performance.now();
        const why = await this.commitBatch(batch[0]!.op.q!, records);
        if (why !== null) {
          const err = new GfsError(ErrorCode.NOT_LEADER, `${why}; the change was not acknowledged`);
          for (const b of batch) b.waiter.reject(err);
          this.close(err);
          this.onFailed(err);
          return;
        }
        this.gathering.written(batch.length, this.pending.length);
        this.stats.records += batch.length;
        this.stats.flushes++;
        this.onCommit?.(batch.map((b) => b.op), records, performance.now() - startedMs);
        for (const b of batch) b.waiter.resolve();
      }
    } finally {
      this.flushing = false;
    }
  }
}
