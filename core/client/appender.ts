// Record append from the client (D3, D4). The client gives only the data;
// the primary of the file's last chunk picks the offset. Each record is
// framed (length, CRC32C, writer id, sequence number; see records.ts) unless
// raw, pushed along the replica chain, then handed to the primary. Many
// appends are in flight at once; their requests reach the primary in the
// order they were made, so a writer's records land in its own order unless
// one has to be retried. A retry goes to a fresh lease; CHUNK_FULL moves to
// the next chunk. Success means the record is at the same offset on every
// replica.
import { randomBytes } from "node:crypto";
import { ErrorCode, GfsError } from "../../net/errors";
import type { LeaseGrant } from "../../net/messages";
import { sleep, type GfsClient } from "./client";
import { encodeRecord } from "./records";
import { pushAlongChain } from "./writer";

const RETRY_MS = 60_000;

export interface AppendOptions {
  /** Write the bytes as they are, without record framing. */
  raw?: boolean;
}

export class Appender {
  /** 8 random bytes naming this writer in every record it frames. */
  readonly writer = new Uint8Array(randomBytes(8));
  private seq = 0;
  private tail: Promise<LeaseGrant> | null = null;
  /** The grant `tail` resolved to, once it has. */
  private current: LeaseGrant | null = null;
  private lastIssued: Promise<void> = Promise.resolve();

  constructor(private readonly client: GfsClient, readonly path: string, private readonly opts: AppendOptions = {}) {}

  /** Appends one record; resolves with its offset in the file. */
  async append(payload: Uint8Array): Promise<number> {
    const record = this.opts.raw ? payload : encodeRecord(this.writer, this.seq++, payload);
    // Requests go out in call order: take a place in line now.
    const prev = this.lastIssued;
    let issued!: () => void;
    this.lastIssued = new Promise<void>((r) => (issued = r));
    let inLine = true;
    const leaveLine = async () => {
      if (!inLine) return;
      inLine = false;
      await prev;
      issued();
    };
    const deadline = Date.now() + RETRY_MS;
    let delayMs = 20;
    let failedWith: LeaseGrant | null = null;
    try {
      for (;;) {
        const grant = await this.lease(failedWith);
        failedWith = null;
        if (record.byteLength > grant.chunkSize / 4) {
          throw new GfsError(ErrorCode.RECORD_TOO_LARGE, `a record of ${record.byteLength} bytes is over a quarter of the chunk size (${grant.chunkSize / 4} bytes)`);
        }
        try {
          const dataId = randomBytes(12).toString("base64url");
          await pushAlongChain(this.client, grant, dataId, record);
          const primary = await this.client.pool.get(grant.primary.addr);
          if (inLine) await prev;
          const reply = primary.call("append", { handle: grant.handle, version: grant.version, dataId, size: record.byteLength });
          if (inLine) {
            inLine = false;
            issued();
          }
          const { offset } = await reply;
          return grant.index * grant.chunkSize + offset;
        } catch (err) {
          await leaveLine(); // later records need not wait for this one's retry
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
      await leaveLine();
    }
  }

  /**
   * The lease on the last chunk, shared by the appends in flight. After a
   * failure with `failedWith`, a new lease is asked for only if no other
   * append has already replaced that one: many appends fail together when a
   * replica dies, and each new lease raises the chunk version.
   */
  private lease(failedWith: LeaseGrant | null): Promise<LeaseGrant> {
    const renew = failedWith !== null && (this.current === null || (this.current.handle === failedWith.handle && this.current.version === failedWith.version));
    if (!this.tail || renew) {
      const p = this.client.master("appendLease", { path: this.path, renew });
      this.tail = p;
      this.current = null;
      p.then((g) => {
        if (this.tail === p) this.current = g;
      }, () => {});
      p.catch(() => {
        if (this.tail === p) this.tail = null;
      });
      // A lease is only good for a while: ask again after half of it.
      p.then((g) => setTimeout(() => {
        if (this.tail === p) this.tail = null;
      }, g.leaseMs / 2).unref?.(), () => {});
    }
    return this.tail;
  }

  /** Chunk `index` is full: the next lease is on the chunk after it (once, for all appends in flight). */
  private moveOn(index: number): void {
    const current = this.tail;
    const next = (async () => {
      const g = current ? await current.catch(() => null) : null;
      if (g && g.index > index) return g; // someone already moved on
      return this.client.master("appendLease", { path: this.path, full: index });
    })();
    this.tail = next;
    this.current = null;
    next.then((g) => {
      if (this.tail === next) this.current = g;
    }, () => {});
    next.catch(() => {
      if (this.tail === next) this.tail = null;
    });
  }
}
