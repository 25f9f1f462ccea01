// A small etcd v3 client over the JSON gateway (etcd 3.4: /v3/kv/range,
// /v3/kv/txn, /v3/lease/grant, /v3/lease/keepalive, /v3/watch), with plain
// fetch: keys and values travel base64-encoded, 64-bit numbers as strings.
// Several endpoints may be given: a failed request moves on to the next one.
// Only what the replicated operation log and the leader election need.
import { ErrorCode, GfsError } from "../../net/errors";

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

const b64 = (s: string | Uint8Array) => Buffer.from(typeof s === "string" ? new TextEncoder().encode(s) : s).toString("base64");
const unb64 = (s: string | undefined) => new Uint8Array(Buffer.from(s ?? "", "base64"));
const num = (s: string | number | undefined) => Number(s ?? 0);

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

function rangeBody(key: string, rangeEnd: string | undefined, opts: { limit?: number; keysOnly?: boolean; descending?: boolean }) {
  return {
    key: b64(key),
    ...(rangeEnd !== undefined ? { range_end: b64(rangeEnd) } : {}),
    ...(opts.limit ? { limit: String(opts.limit) } : {}),
    ...(opts.keysOnly ? { keys_only: true } : {}),
    ...(opts.descending ? { sort_order: "DESCEND", sort_target: "KEY" } : {}),
  };
}

function toKv(kv: any): KeyValue {
  return {
    key: new TextDecoder().decode(unb64(kv.key)),
    value: unb64(kv.value),
    createRevision: num(kv.create_revision),
    modRevision: num(kv.mod_revision),
    lease: String(kv.lease ?? "0"),
  };
}

export class EtcdClient {
  private current = 0;

  constructor(readonly endpoints: string[], private readonly timeoutMs = REQUEST_MS) {
    if (endpoints.length === 0) throw new GfsError(ErrorCode.INVALID_ARGUMENT, "no etcd endpoint given");
  }

  /** POSTs one request, trying each endpoint once from the one that last answered. */
  private async post(path: string, body: unknown): Promise<any> {
    let last: unknown = null;
    for (let i = 0; i < this.endpoints.length; i++) {
      const at = (this.current + i) % this.endpoints.length;
      const url = this.endpoints[at]!.replace(/\/+$/, "") + path;
      try {
        const res = await fetch(url, { method: "POST", body: JSON.stringify(body), signal: AbortSignal.timeout(this.timeoutMs) });
        const text = await res.text();
        const json = text ? JSON.parse(text) : {};
        if (!res.ok || json.error) {
          // An answer from etcd itself (a missing lease, a too-large request) is final: another member would say the same.
          throw new GfsError(ErrorCode.INVALID_ARGUMENT, `etcd ${path}: ${json.message ?? json.error ?? res.status}`);
        }
        this.current = at;
        return json;
      } catch (err) {
        if (err instanceof GfsError) throw err;
        last = err;
      }
    }
    throw new GfsError(ErrorCode.UNAVAILABLE, `etcd is unreachable (${this.endpoints.join(",")}): ${(last as Error)?.message ?? last}`);
  }

  /** Keys from `key` up to `rangeEnd` (exclusive), in key order; with `limit`, at most that many. */
  async range(key: string, rangeEnd?: string, opts: { limit?: number; keysOnly?: boolean; descending?: boolean } = {}): Promise<{ kvs: KeyValue[]; revision: number; more: boolean }> {
    const rep = await this.post("/v3/kv/range", rangeBody(key, rangeEnd, opts));
    return { kvs: (rep.kvs ?? []).map(toKv), revision: num(rep.header?.revision), more: rep.more === true };
  }

  async put(key: string, value: Uint8Array | string, lease?: string): Promise<number> {
    const rep = await this.post("/v3/kv/put", { key: b64(key), value: b64(value), ...(lease ? { lease } : {}) });
    return num(rep.header?.revision);
  }

  async deleteRange(key: string, rangeEnd: string): Promise<number> {
    const rep = await this.post("/v3/kv/deleterange", { key: b64(key), range_end: b64(rangeEnd) });
    return num(rep.deleted);
  }

  /** If every compare holds, runs `success`, else `failure`; atomically. */
  async txn(compare: TxnCompare[], success: TxnOp[], failure: TxnOp[] = []): Promise<TxnResult> {
    const op = (o: TxnOp) =>
      "put" in o
        ? { request_put: { key: b64(o.put.key), value: b64(o.put.value), ...(o.put.lease ? { lease: o.put.lease } : {}) } }
        : "range" in o
          ? { request_range: rangeBody(o.range.key, o.range.rangeEnd, o.range) }
          : { request_delete_range: { key: b64(o.deleteRange.key), range_end: b64(o.deleteRange.rangeEnd) } };
    const rep = await this.post("/v3/kv/txn", {
      compare: compare.map((c) => ({ key: b64(c.key), target: "CREATE", result: "EQUAL", create_revision: String(c.createRevision) })),
      success: success.map(op),
      failure: failure.map(op),
    });
    const ranges: KeyValue[][] = (rep.responses ?? []).map((r: any) => (r.response_range?.kvs ?? []).map(toKv));
    return { succeeded: rep.succeeded === true, revision: num(rep.header?.revision), ranges };
  }

  /** A lease of `ttlSec` seconds: its id. */
  async grantLease(ttlSec: number): Promise<string> {
    const rep = await this.post("/v3/lease/grant", { TTL: String(ttlSec) });
    return String(rep.ID);
  }

  /** Renews a lease: the seconds it has left (0: it has expired). */
  async keepAlive(id: string): Promise<number> {
    const rep = await this.post("/v3/lease/keepalive", { ID: id });
    return num(rep.result?.TTL);
  }

  async revokeLease(id: string): Promise<void> {
    await this.post("/v3/lease/revoke", { ID: id }).catch(() => {});
  }

  /**
   * Watches keys from `key` to `rangeEnd` from revision `fromRevision` on:
   * `onEvents` gets each batch in order. Ends (resolving `closed` with why)
   * when cancelled or when the stream is lost; the caller starts a new one.
   */
  watch(key: string, rangeEnd: string, fromRevision: number, onEvents: (events: WatchEvent[], revision: number) => void): Watch {
    const abort = new AbortController();
    const url = this.endpoints[this.current]!.replace(/\/+$/, "") + "/v3/watch";
    const closed = (async () => {
      try {
        const res = await fetch(url, {
          method: "POST",
          signal: abort.signal,
          body: JSON.stringify({ create_request: { key: b64(key), range_end: b64(rangeEnd), start_revision: String(fromRevision) } }),
        });
        if (!res.ok || !res.body) return `watch refused: ${res.status}`;
        const reader = res.body.getReader();
        let text = "";
        const decoder = new TextDecoder();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return "the watch stream ended";
          text += decoder.decode(value, { stream: true });
          let nl: number;
          // The gateway sends one JSON object per line.
          while ((nl = text.indexOf("\n")) >= 0) {
            const line = text.slice(0, nl).trim();
            text = text.slice(nl + 1);
            if (!line) continue;
            const msg = JSON.parse(line);
            if (msg.error) return `watch: ${msg.error.message ?? JSON.stringify(msg.error)}`;
            const r = msg.result ?? {};
            if (r.canceled) return `watch cancelled by etcd${r.cancel_reason ? `: ${r.cancel_reason}` : ""}`;
            const events: WatchEvent[] = (r.events ?? []).map((e: any) => ({ type: e.type === "DELETE" ? "delete" : "put", kv: toKv(e.kv) }));
            if (events.length > 0) onEvents(events, num(r.header?.revision));
          }
        }
      } catch (err) {
        return abort.signal.aborted ? "cancelled" : `watch lost: ${(err as Error).message}`;
      }
    })();
    return { cancel: () => abort.abort(), closed };
  }
}
