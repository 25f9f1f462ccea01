// The RPC log as text (`gfs rpc-log`): one line per request served, printed
// when its reply is read, joined to it by peer and call id:
//
//   2026-11-24T00:20:00.123Z 127.0.0.1:40312 create ok 0.12ms {"path":"/a"} -> {"handle":"..."}
//
// the request's arrival time, who sent it, its type, outcome ("ok" or the
// error code), how long serving it took, its body and the reply's, with
// bytes shown as their length and long fields cut. A request whose reply is
// not in the log (the connection closed first, or the daemon stopped) is
// printed last as "unanswered"; a reply whose request went to an older file
// shows its type as "?".
import { decodeBody } from "../net/codec";
import { RECORD_FIXED_BYTES, RECORD_REPLY, RECORD_REQUEST, RPC_LOG_MAGIC } from "./rpc-log";

/** A field longer than this is cut. */
const MAX_FIELD_CHARS = 200;
/** A list longer than this is cut, and nesting deeper than MAX_DEPTH is not shown. */
const MAX_ITEMS = 20;
const MAX_DEPTH = 8;

export interface RpcRecord {
  kind: "request" | "reply";
  timeMs: number;
  /** For a reply: how long serving its request took. */
  ms: number;
  peer: string;
  envelope: any;
}

/** Whether `bytes` begins as an RPC log does. */
export function isRpcLog(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, RPC_LOG_MAGIC.length)).toString("latin1") === RPC_LOG_MAGIC;
}

/**
 * The whole records in `bytes` from `offset` (past the file's magic), and
 * where the first incomplete one begins (a file still being written ends
 * inside one). Throws on a record that cannot be one.
 */
export function parseRecords(bytes: Uint8Array, offset = RPC_LOG_MAGIC.length): { records: RpcRecord[]; end: number } {
  const records: RpcRecord[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = offset;
  while (p + RECORD_FIXED_BYTES <= bytes.byteLength) {
    const size = view.getUint32(p, true) + 4;
    if (size < RECORD_FIXED_BYTES) throw new Error(`damaged record at byte ${p}`);
    if (p + size > bytes.byteLength) break;
    const kind = bytes[p + 4];
    if (kind !== RECORD_REQUEST && kind !== RECORD_REPLY) throw new Error(`damaged record at byte ${p}: kind ${kind}`);
    const nameBytes = bytes[p + 17]!;
    const bodyAt = p + RECORD_FIXED_BYTES + nameBytes;
    if (bodyAt > p + size) throw new Error(`damaged record at byte ${p}`);
    let envelope: any;
    try {
      envelope = decodeBody(bytes.subarray(bodyAt, p + size));
    } catch {
      envelope = { b: "<undecodable>" };
    }
    records.push({
      kind: kind === RECORD_REQUEST ? "request" : "reply",
      timeMs: view.getFloat64(p + 5, true),
      ms: view.getFloat32(p + 13, true),
      peer: Buffer.from(bytes.buffer, bytes.byteOffset + p + RECORD_FIXED_BYTES, nameBytes).toString("latin1"),
      envelope,
    });
    p += size;
  }
  return { records, end: p };
}

/** Joins requests to their replies and prints each pair as a line. */
export class RpcLogPrinter {
  private readonly waiting = new Map<string, RpcRecord>();

  /** The lines the record completes (none for a request, one for a reply). */
  add(r: RpcRecord): string[] {
    const key = `${r.peer} ${r.envelope?.i}`;
    if (r.kind === "request") {
      this.waiting.set(key, r);
      return [];
    }
    const req = this.waiting.get(key);
    this.waiting.delete(key);
    const e = r.envelope?.e;
    const outcome = e ? String(e.code ?? "error") : "ok";
    const answer = e ? { message: e.message } : r.envelope?.r;
    return [line(req?.timeMs ?? r.timeMs, r.peer, req ? String(req.envelope?.t) : "?", outcome, `${r.ms.toFixed(2)}ms`, req?.envelope?.b, answer)];
  }

  /** Lines for the requests left without a reply, oldest first. */
  unanswered(): string[] {
    const out = [...this.waiting.values()].sort((a, b) => a.timeMs - b.timeMs).map((r) => line(r.timeMs, r.peer, String(r.envelope?.t), "unanswered", "-", r.envelope?.b, undefined));
    this.waiting.clear();
    return out;
  }
}

function line(timeMs: number, peer: string, type: string, outcome: string, took: string, body: unknown, answer: unknown): string {
  const stamp = Number.isFinite(timeMs) ? new Date(timeMs).toISOString() : "?";
  return `${stamp} ${peer} ${type} ${outcome} ${took} ${describe(body)}${answer === undefined ? "" : ` -> ${describe(answer)}`}`;
}

/** A body as JSON, with bytes replaced by their length and long fields cut. */
export function describe(body: unknown): string {
  return body === undefined ? "{}" : jsonOf(body, 0);
}

/**
 * JSON of a body, walked here rather than by JSON.stringify with a replacer:
 * that turns a Buffer (a lease token) into its toJSON form, a list of every
 * byte, before the replacer sees it.
 */
function jsonOf(v: unknown, depth: number): string {
  switch (typeof v) {
    case "number":
      return Number.isFinite(v) ? String(v) : "null";
    case "boolean":
      return v ? "true" : "false";
    case "bigint":
      return String(v);
    case "string":
      return JSON.stringify(v.length > MAX_FIELD_CHARS ? v.slice(0, MAX_FIELD_CHARS) + "..." : v);
    case "object": {
      if (v === null) return "null";
      if (v instanceof Uint8Array) return `"<${v.byteLength} bytes>"`;
      if (depth >= MAX_DEPTH) return '"..."';
      if (Array.isArray(v)) {
        const shown = v.slice(0, MAX_ITEMS).map((x) => jsonOf(x, depth + 1));
        if (v.length > MAX_ITEMS) shown.push(`"... ${v.length - MAX_ITEMS} more"`);
        return `[${shown.join(",")}]`;
      }
      const fields: string[] = [];
      for (const k in v) {
        const x = (v as Record<string, unknown>)[k];
        if (x !== undefined && typeof x !== "function") fields.push(`${JSON.stringify(k)}:${jsonOf(x, depth + 1)}`);
      }
      return `{${fields.join(",")}}`;
    }
    default:
      return "null";
  }
}
