// Record append from the client (D3, D4). The client gives only the data;
// the primary of the file's last chunk picks the offset.
//
// Appenders of one client on one file share a batcher: records queued while
// earlier batches are in flight leave together, as one blob that the primary
// appends atomically (each record keeps its own frame, so readers see
// separate records). A batch is pushed along the replica chain, then handed
// to the primary; a few batches are in flight at once and their requests
// reach the primary in the order they were made. A failed batch is retried
// on a fresh lease (a new one only if a server of the old one is gone);
// CHUNK_FULL moves to the next chunk. Success means every record of the
// batch is at the same offset on every replica.
import { randomBytes } from "node:crypto";
import { ErrorCode, GfsError } from "../../net/errors";
import type { LeaseGrant } from "../../net/messages";
import { sleep, type GfsClient } from "./client";
import { IssueOrder } from "./issue-order";
import { encodeRecord } from "./records";
import { pushAlongChain } from "./writer";

const RETRY_MS = 60_000;
const BATCHES_IN_FLIGHT = 4;
const MAX_BATCH_BYTES = 1024 * 1024;

export interface AppendOptions {
  /** Write the bytes as they are, without record framing. */
  raw?: boolean;
}

/** One writer: frames its records with its id and sequence numbers. */
export class Appender {
  /** 8 random bytes naming this writer in every record it frames. */
  readonly writer = new Uint8Array(randomBytes(8));
  private seq = 0;

  constructor(private readonly batcher: AppendBatcher, readonly path: string, private readonly opts: AppendOptions = {}) {}

  /** Appends one record; resolves with its offset in the file. */
  append(payload: Uint8Array): Promise<number> {
    const record = this.opts.raw ? payload : encodeRecord(this.writer, this.seq++, payload);
    return this.batcher.enqueue(record);
  }
}

interface Queued {
  record: Uint8Array;
  resolve(offset: number): void;
  reject(err: unknown): void;
}

/** Batches the records of every appender of one client on one file. */
export class AppendBatcher {
  private readonly queue: Queued[] = [];
  private inFlight = 0;
  private tail: Promise<LeaseGrant> | null = null;
  /** The grant `tail` resolved to, once it has. */
  private current: LeaseGrant | null = null;
  private readonly order = new IssueOrder();
  private chunkSize = 0;

  constructor(private readonly client: GfsClient, readonly path: string) {}

  enqueue(record: Uint8Array): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < BATCHES_IN_FLIGHT && this.queue.length > 0) {
      const limit = Math.min(MAX_BATCH_BYTES, this.chunkSize ? this.chunkSize / 4 : MAX_BATCH_BYTES);
      const batch: Queued[] = [this.queue.shift()!];
      let bytes = batch[0]!.record.byteLength;
      while (this.queue.length > 0 && bytes + this.queue[0]!.record.byteLength <= limit) {
        bytes += this.queue[0]!.record.byteLength;
        batch.push(this.queue.shift()!);
      }
      this.inFlight++;
      void this.send(batch, bytes).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async send(batch: Queued[], bytes: number): Promise<void> {
    const blob = batch.length === 1 ? batch[0]!.record : Buffer.concat(batch.map((q) => q.record), bytes);
    try {
      const offset = await this.appendBlob(blob);
      let at = offset;
      for (const q of batch) {
        q.resolve(at);
        at += q.record.byteLength;
      }
    } catch (err) {
      for (const q of batch) q.reject(err);
    }
  }

  /** Appends one blob atomically; resolves with its offset in the file. */
  private async appendBlob(blob: Uint8Array): Promise<number> {
    // Requests go out in the order batches were formed: take a turn now.
    const turn = this.order.take();
    const deadline = Date.now() + RETRY_MS;
    let delayMs = 20;
    let failedWith: LeaseGrant | null = null;
    try {
      for (;;) {
        const grant = await this.lease(failedWith);
        failedWith = null;
        this.chunkSize = grant.chunkSize;
        if (blob.byteLength > grant.chunkSize / 4) {
          throw new GfsError(ErrorCode.RECORD_TOO_LARGE, `a record of ${blob.byteLength} bytes is over a quarter of the chunk size (${grant.chunkSize / 4} bytes)`);
        }
        try {
          const dataId = randomBytes(12).toString("base64url");
          await pushAlongChain(this.client, grant, dataId, blob);
          const primary = await this.client.pool.get(grant.primary.addr);
          await turn.wait();
          const reply = primary.call("append", { handle: grant.handle, version: grant.version, dataId, size: blob.byteLength });
          turn.sent();
          const { offset } = await reply;
          return grant.index * grant.chunkSize + offset;
        } catch (err) {
          await turn.pass(); // later batches need not wait for this one's retry
          const e = err instanceof GfsError ? err : new GfsError(ErrorCode.INTERNAL, (err as Error).message);
          if (e.code === ErrorCode.CHUNK_FULL) {
            this.moveOn(grant.index);
            continue;
          }
          if (!e.retryable) throw e;
          if (Date.now() + delayMs > deadline) throw new GfsError(e.code, `appending to ${this.path}: ${e.message}`);
          await sleep(delayMs);
          delayMs = Math.min(delayMs * 2, 1_000);
          failedWith = grant;
        }
      }
    } finally {
      await turn.pass();
    }
  }

  /**
   * The lease on the last chunk, shared by the batches in flight. After a
   * failure with `failedWith`, the master is asked again only if no other
   * batch has already replaced that lease.
   */
  private lease(failedWith: LeaseGrant | null): Promise<LeaseGrant> {
    const renew = failedWith !== null && (this.current === null || (this.current.handle === failedWith.handle && this.current.version === failedWith.version));
    if (!this.tail || renew) this.setTail(this.client.master("appendLease", { path: this.path, renew }));
    return this.tail!;
  }

  /** Chunk `index` is full: the next lease is on the chunk after it (once, for all batches in flight). */
  private moveOn(index: number): void {
    const current = this.tail;
    this.setTail((async () => {
      const g = current ? await current.catch(() => null) : null;
      if (g && g.index > index) return g; // another batch already moved on
      return this.client.master("appendLease", { path: this.path, full: index });
    })());
  }

  private setTail(p: Promise<LeaseGrant>): void {
    this.tail = p;
    this.current = null;
    p.then(
      (g) => {
        if (this.tail !== p) return;
        this.current = g;
        // A lease is only good for a while: ask again after half of it.
        setTimeout(() => {
          if (this.tail === p) this.tail = null;
        }, g.leaseMs / 2).unref?.();
      },
      () => {
        if (this.tail === p) this.tail = null;
      },
    );
  }
}
