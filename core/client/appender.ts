// Record append from the client (D3, D4). The client gives only the data;
// the primary of the file's last chunk picks the offset.
//
// Appenders of one client on one file share a batcher: records queued while
// earlier batches are in flight leave together, as one blob that the primary
// appends atomically (each record keeps its own frame, so readers see
// separate records). A batch is pushed along the replica chain and handed to
// the primary without waiting for the push to finish (a batch of 128 KiB
// or less rides in the request instead, and the primary sends it on); a few
// batches are in flight at once and their requests reach the primary in the
// order they were made. A failed batch is retried on a fresh lease (a new one only if a
// server of the old one is gone); CHUNK_FULL moves to the next chunk. When
// the chunk filled before any replica took the data and the next chunk's
// lease is on the same servers, the retry names the same pushed data instead
// of pushing it again: on slow links a batch is not pushed again for every
// chunk that fills while it travels. A retried batch is sent again before
// the batches made after it (and after those made before it are answered),
// so a writer's records stay in its order across chunks. (A push skips a
// server it cannot reach, so a dead replica does not keep the data from the
// ones after it in the chain.) Success means every record of
// the batch is at the same offset on every replica.
import { randomBytes } from "node:crypto";
import { ErrorCode, GfsError } from "../../net/errors";
import { INLINE_APPEND_BYTES, type LeaseGrant } from "../../net/messages";
import { asGfsError, sleep, type GfsClient } from "./client";
import { IssueOrder } from "./issue-order";
import { crc32cCombine } from "../checksums";
import { encodeRecordWithCrc } from "./records";
import { pushAhead } from "./writer";

const BATCHES_IN_FLIGHT = 4;
/**
 * The primary's answer that refuses an append before it is forwarded or
 * written, its lease unchanged (the chunk filled while the data travelled):
 * the pushed data stays in the replicas' push buffers for the next chunk. A
 * changed lease or a missing replica may mean a server restarted and lost its
 * buffer, so after NOT_PRIMARY or STALE the data is pushed again.
 */
const REFUSED_BEFORE_USE = new Set<string>([ErrorCode.CHUNK_FULL]);
const MAX_BATCH_BYTES = 1024 * 1024;
/** Queued bytes that leave as a batch of their own while another is in flight. */
const EARLY_BATCH_BYTES = 64 * 1024;
/** Records written with `write` and not yet acknowledged, at most (count, bytes). */
const WINDOW_RECORDS = 4096;
const WINDOW_BYTES = 8 * 1024 * 1024;

export interface AppendOptions {
  /** Write the bytes as they are, without record framing. */
  raw?: boolean;
}

/**
 * One writer: frames its records with its id and sequence numbers. Either
 * await each `append` (its offset), or stream with `write` and `flush`: many
 * records in flight, as a log producer wants.
 */
export class Appender {
  /** 8 random bytes naming this writer in every record it frames. */
  readonly writer = new Uint8Array(randomBytes(8));
  private seq = 0;
  private unackedRecords = 0;
  private unackedBytes = 0;
  private failure: unknown = null;
  private waiters: (() => void)[] = [];

  constructor(private readonly batcher: AppendBatcher, readonly path: string, private readonly opts: AppendOptions = {}) {}

  /** Appends one record; resolves with its offset in the file once every replica has it. */
  append(payload: Uint8Array): Promise<number> {
    if (this.opts.raw) return this.batcher.enqueue(payload);
    const { bytes, crc } = encodeRecordWithCrc(this.writer, this.seq++, payload);
    return this.batcher.enqueue(bytes, crc);
  }

  /**
   * Streams one record: resolves as soon as the appender can take another
   * (a window of unacknowledged records, bounded in count and bytes), not
   * when the record is stored. A failure is thrown by a later `write` or by
   * `flush`.
   */
  async write(payload: Uint8Array): Promise<void> {
    this.throwFailure();
    const bytes = payload.byteLength;
    this.unackedRecords++;
    this.unackedBytes += bytes;
    this.append(payload).then(
      () => this.settled(bytes),
      (err) => {
        this.failure ??= err;
        this.settled(bytes);
      },
    );
    while (this.unackedRecords >= WINDOW_RECORDS || this.unackedBytes >= WINDOW_BYTES) await this.nextSettled();
    this.throwFailure();
  }

  /** Resolves once every record given to `write` is stored on every replica; throws the first failure. */
  async flush(): Promise<void> {
    while (this.unackedRecords > 0) await this.nextSettled();
    this.throwFailure();
  }

  private settled(bytes: number): void {
    this.unackedRecords--;
    this.unackedBytes -= bytes;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private nextSettled(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }

  private throwFailure(): void {
    if (this.failure === null) return;
    const err = this.failure;
    this.failure = null;
    throw err;
  }
}

interface Queued {
  record: Uint8Array;
  /** CRC32C of `record`, when its framing computed it. */
  crc?: number;
  resolve(offset: number): void;
  reject(err: unknown): void;
}

/** Batches the records of every appender of one client on one file. */
export class AppendBatcher {
  private queue: Queued[] = [];
  private head = 0; // queue[head..] wait to be sent
  private queuedBytes = 0;
  private inFlight = 0;
  private tail: Promise<LeaseGrant> | null = null;
  /** The grant `tail` resolved to, once it has. */
  private current: LeaseGrant | null = null;
  private readonly order = new IssueOrder();
  private chunkSize = 0;

  constructor(private readonly client: GfsClient, readonly path: string) {}

  enqueue(record: Uint8Array, crc?: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ record, crc, resolve, reject });
      this.queuedBytes += record.byteLength;
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < BATCHES_IN_FLIGHT && this.head < this.queue.length) {
      // While a batch is in flight, a small queue waits for it and then
      // leaves as one bigger batch: fewer messages per record.
      if (this.inFlight > 0 && this.queuedBytes < EARLY_BATCH_BYTES) return;
      const limit = Math.min(MAX_BATCH_BYTES, this.chunkSize ? this.chunkSize / 4 : MAX_BATCH_BYTES);
      const batch: Queued[] = [this.queue[this.head++]!];
      let bytes = batch[0]!.record.byteLength;
      while (this.head < this.queue.length && bytes + this.queue[this.head]!.record.byteLength <= limit) {
        bytes += this.queue[this.head]!.record.byteLength;
        batch.push(this.queue[this.head++]!);
      }
      this.queuedBytes -= bytes;
      if (this.head === this.queue.length) {
        this.queue = [];
        this.head = 0;
      } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
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
    // The push's CRC32C, folded from the records' own when each has one (no second pass over the bytes).
    let crc: number | undefined = 0;
    for (const q of batch) crc = crc === undefined || q.crc === undefined ? undefined : crc32cCombine(crc, q.crc, q.record.byteLength);
    try {
      const offset = await this.appendBlob(blob, crc);
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
  private async appendBlob(blob: Uint8Array, crc?: number): Promise<number> {
    // Requests go out in the order batches were formed: take a turn now.
    const turn = this.order.take();
    const retrier = this.client.retrier();
    let delayMs = 20;
    let failedWith: LeaseGrant | null = null;
    /** The blob as pushed: its id and the servers it was sent to. */
    let pushedAs: { dataId: string; to: Set<string> } | null = null;
    try {
      for (;;) {
        const grant = await this.lease(failedWith);
        failedWith = null;
        this.chunkSize = grant.chunkSize;
        if (blob.byteLength > grant.chunkSize / 4) {
          throw new GfsError(ErrorCode.RECORD_TOO_LARGE, `a record of ${blob.byteLength} bytes is over a quarter of the chunk size (${grant.chunkSize / 4} bytes)`);
        }
        try {
          // Small: the bytes ride in the request, and the primary sends them on
          // in its own. Bigger: the request goes while the data is still
          // travelling down the chain, and each replica writes once the bytes
          // reach it. Either way the reply says every replica did.
          const inline = blob.byteLength <= INLINE_APPEND_BYTES;
          let dataId = "";
          let pushed: Promise<void> | null = null;
          if (inline) crc ??= await this.client.crc32c(blob);
          else {
            const replicas = [grant.primary, ...grant.secondaries];
            // Reused only when every replica of this lease was sent it.
            const reused = pushedAs !== null && replicas.every((r) => pushedAs!.to.has(r.addr));
            if (!reused) pushedAs = { dataId: randomBytes(12).toString("base64url"), to: new Set(replicas.map((r) => r.addr)) };
            dataId = pushedAs!.dataId;
            if (!reused) {
              pushed = pushAhead(this.client, grant, dataId, blob, crc);
              pushed.catch(() => {}); // awaited below, after other awaits
            }
          }
          const primary = await this.client.pool.get(grant.primary.addr);
          await turn.wait(`${grant.handle}@${grant.version}`);
          if (pushed) await pushed;
          const reply = inline
            ? primary.callData("append", { handle: grant.handle, version: grant.version, dataId, size: blob.byteLength, crc }, blob)
            : primary.call("append", { handle: grant.handle, version: grant.version, dataId, size: blob.byteLength });
          turn.sent();
          const { offset } = await reply;
          return grant.index * grant.chunkSize + offset;
        } catch (err) {
          // The retry goes before any batch made after this one: each writer's records stay in order.
          turn.retry();
          const e = asGfsError(err);
          // Refused by the primary before any replica took the data: it is still where it was pushed.
          if (!REFUSED_BEFORE_USE.has(e.code)) pushedAs = null;
          if (e.code === ErrorCode.CHUNK_FULL) {
            this.moveOn(grant.index);
            continue;
          }
          if (!e.retryable) throw e;
          if (!retrier.retry(`appending to ${this.path}: ${e.message}`, delayMs)) throw new GfsError(e.code, `appending to ${this.path}: ${e.message}`);
          await sleep(delayMs);
          delayMs = Math.min(delayMs * 2, 1_000);
          failedWith = grant;
        }
      }
    } finally {
      turn.pass();
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
