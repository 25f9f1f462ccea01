// A small etcd v3 client over etcd's gRPC API (etcd-grpc.ts, etcd-messages.ts):
// range, put, deleteRange, txn, leases and watch, only what the replicated
// operation log and the leader election need. Several endpoints may be
// given: a request that gets no answer moves on to the next one. (etcd's
// JSON gateway would do with plain fetch, but costs etcd about 3.7 times the
// CPU per request: BENCHMARKS.md.)
import { ErrorCode, GfsError } from "../../net/errors";
import { GrpcChannel, GrpcStatusError } from "./etcd-grpc";
import * as msg from "./etcd-messages";

export interface KeyValue {
  key: string;
  value: Uint8Array;
  createRevision: number;
  modRevision: number;
  lease: string;
}

export interface TxnCompare {
  key: string;
  /** CREATE: the key's create revision (0: the key does not exist). */
  createRevision: number;
}

export type TxnOp =
  | { put: { key: string; value: Uint8Array | string; lease?: string } }
  | { range: { key: string; rangeEnd?: string; limit?: number; keysOnly?: boolean; descending?: boolean } }
  | { deleteRange: { key: string; rangeEnd: string } };

export interface TxnResult {
  succeeded: boolean;
  revision: number;
  /** What each operation of the branch taken read (empty for puts and deletions), in order. */
  ranges: KeyValue[][];
}

/** One event of a watch: a key put or deleted. */
export interface WatchEvent {
  type: "put" | "delete";
  kv: KeyValue;
}

/** A watch in progress; `closed` resolves when it ends (by cancel or by losing the stream). */
export interface Watch {
  cancel(): void;
  closed: Promise<string>;
}

const REQUEST_MS = 5_000;

/** The key just past every key that starts with `prefix` (etcd's range end for a prefix). */
export function prefixEnd(prefix: string): string {
  const bytes = new TextEncoder().encode(prefix);
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]! < 0xff) {
      const end = bytes.slice(0, i + 1);
      end[i]!++;
      return new TextDecoder().decode(end);
    }
  }
  return "\0";
}

export class EtcdClient {
  private current = 0;
  private readonly channels: GrpcChannel[];

  constructor(readonly endpoints: string[], private readonly timeoutMs = REQUEST_MS) {
    if (endpoints.length === 0) throw new GfsError(ErrorCode.INVALID_ARGUMENT, "no etcd endpoint given");
    this.channels = endpoints.map((e) => new GrpcChannel(e.replace(/\/+$/, "")));
  }

  /** One call, trying each endpoint once from the one that last answered. */
  private async call(method: string, request: Uint8Array): Promise<Uint8Array> {
    let last: unknown = null;
    for (let i = 0; i < this.channels.length; i++) {
      const at = (this.current + i) % this.channels.length;
      try {
        const reply = await this.channels[at]!.unary(method, request, this.timeoutMs);
        this.current = at;
        return reply;
      } catch (err) {
        // An answer from etcd itself (a missing lease, a too-large request) is final: another member would say the same.
        if (err instanceof GrpcStatusError && !err.transient) throw new GfsError(ErrorCode.INVALID_ARGUMENT, `etcd ${err.message}`);
        last = err;
      }
    }
    throw new GfsError(ErrorCode.UNAVAILABLE, `etcd is unreachable (${this.endpoints.join(",")}): ${(last as Error)?.message ?? last}`);
  }

  /** Keys from `key` up to `rangeEnd` (exclusive), in key order; with `limit`, at most that many. */
  async range(key: string, rangeEnd?: string, opts: msg.RangeOptions = {}): Promise<{ kvs: KeyValue[]; revision: number; more: boolean }> {
    return msg.rangeResponse(await this.call(msg.METHOD.range, msg.rangeRequest(key, rangeEnd, opts).finish()));
  }

  async put(key: string, value: Uint8Array | string, lease?: string): Promise<number> {
    return msg.putResponse(await this.call(msg.METHOD.put, msg.putRequest(key, value, lease).finish()));
  }

  async deleteRange(key: string, rangeEnd: string): Promise<number> {
    return msg.deleteRangeResponse(await this.call(msg.METHOD.deleteRange, msg.deleteRangeRequest(key, rangeEnd).finish()));
  }

  /** If every compare holds, runs `success`, else `failure`; atomically. */
  async txn(compare: TxnCompare[], success: TxnOp[], failure: TxnOp[] = []): Promise<TxnResult> {
    return msg.txnResponse(await this.call(msg.METHOD.txn, msg.txnRequest(compare, success, failure).finish()));
  }

  /** A lease of `ttlSec` seconds: its id. */
  async grantLease(ttlSec: number): Promise<string> {
    const rep = msg.leaseGrantResponse(await this.call(msg.METHOD.leaseGrant, msg.leaseGrantRequest(ttlSec).finish()));
    if (rep.error) throw new GfsError(ErrorCode.INVALID_ARGUMENT, `etcd lease grant: ${rep.error}`);
    return rep.id;
  }

  /** Renews a lease: the seconds it has left (0: it has expired). */
  async keepAlive(id: string): Promise<number> {
    return msg.leaseKeepAliveResponse(await this.call(msg.METHOD.leaseKeepAlive, msg.leaseIdRequest(id).finish()));
  }

  async revokeLease(id: string): Promise<void> {
    await this.call(msg.METHOD.leaseRevoke, msg.leaseIdRequest(id).finish()).catch(() => {});
  }

  /** Closes the connections (a stopping master). */
  close(): void {
    for (const c of this.channels) c.close();
  }

  /**
   * Watches keys from `key` to `rangeEnd` from revision `fromRevision` on:
   * `onEvents` gets each batch in order. Ends (resolving `closed` with why)
   * when cancelled or when the stream is lost; the caller starts a new one.
   */
  watch(key: string, rangeEnd: string, fromRevision: number, onEvents: (events: WatchEvent[], revision: number) => void): Watch {
    let stream: ReturnType<GrpcChannel["stream"]> | null = null;
    let why: string | null = null;
    stream = this.channels[this.current]!.stream(msg.METHOD.watch, msg.watchCreateRequest(key, rangeEnd, fromRevision).finish(), (m) => {
      if (why !== null) return;
      const r = msg.watchResponse(m);
      if (r.canceled) {
        why = `watch cancelled by etcd${r.cancelReason ? `: ${r.cancelReason}` : ""}`;
        stream?.cancel();
        return;
      }
      if (r.events.length > 0) onEvents(r.events, r.revision);
    });
    const closed = stream.closed.then((w) => (why !== null ? why : w));
    return { cancel: () => stream?.cancel(), closed };
  }
}
