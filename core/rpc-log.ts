// The RPC log (O2): every request a daemon serves, with its outcome and
// time, and its body without file data, one line each, appended to
// DIR/rpc.log. Written in the background (lines are buffered and flushed
// every half second), and bounded: past `maxBytes` the file is renamed to
// rpc.log.1 (replacing the one before) and a new one begun.
import { appendFile, rename, stat } from "node:fs/promises";
import { join } from "node:path";

const FLUSH_MS = 500;
/** A field longer than this is cut in the log. */
const MAX_FIELD_CHARS = 200;
/** A list longer than this is cut in the log, and nesting deeper than MAX_DEPTH is not shown. */
const MAX_ITEMS = 20;
const MAX_DEPTH = 8;

/**
 * The hook a daemon gives its listener (`onServed`): every request served is
 * counted in its metrics and written to its RPC log.
 */
export function servedHook(metrics: { served(type: string, outcome: string, ms: number): void }, log: () => RpcLog | null) {
  return (type: string, outcome: string, ms: number, body: unknown, peer: { remote: string }): void => {
    metrics.served(type, outcome, ms);
    log()?.record(type, outcome, ms, body, peer.remote);
  };
}

export class RpcLog {
  private lines: string[] = [];
  private bytes = -1; // unknown until the first flush
  private flushing: Promise<void> | null = null;
  private readonly timer: ReturnType<typeof setInterval>;
  readonly path: string;

  constructor(dir: string, private readonly maxBytes = 64 * 1024 * 1024) {
    this.path = join(dir, "rpc.log");
    this.timer = setInterval(() => void this.flush(), FLUSH_MS);
    this.timer.unref?.();
  }

  /** The time's ISO text up to the second, made once a second. */
  private second = -1;
  private secondText = "";

  record(type: string, outcome: string, ms: number, body: unknown, peer: string): void {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (second !== this.second) {
      this.second = second;
      this.secondText = new Date(second * 1000).toISOString().slice(0, 19);
    }
    const milli = now - second * 1000;
    this.lines.push(`${this.secondText}.${milli < 10 ? "00" : milli < 100 ? "0" : ""}${milli}Z ${peer} ${type} ${outcome} ${ms.toFixed(2)}ms ${describe(body)}\n`);
    if (this.lines.length > 100_000) this.lines.splice(0, this.lines.length - 100_000); // a disk that cannot keep up loses the oldest lines, never memory
  }

  flush(): Promise<void> {
    if (this.flushing || this.lines.length === 0) return this.flushing ?? Promise.resolve();
    const text = this.lines.join("");
    this.lines = [];
    this.flushing = (async () => {
      try {
        if (this.bytes < 0) this.bytes = await stat(this.path).then((s) => s.size, () => 0);
        if (this.bytes + text.length > this.maxBytes) {
          await rename(this.path, this.path + ".1").catch(() => {});
          this.bytes = 0;
        }
        await appendFile(this.path, text);
        this.bytes += Buffer.byteLength(text);
      } catch {
        // The RPC log is for people; a failed write never stops serving.
      } finally {
        this.flushing = null;
      }
    })();
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flushing;
    await this.flush();
  }
}

/** A body as JSON, with bytes replaced by their length and long fields cut. */
function describe(body: unknown): string {
  try {
    // Most bodies are a few short fields: written as they are.
    if (isFlat(body)) return JSON.stringify(body);
    return body === undefined ? "{}" : jsonOf(body, 0);
  } catch {
    return "{}";
  }
}

/**
 * JSON of a body, walked here rather than by JSON.stringify with a replacer:
 * that calls back for every field and turns a Buffer (a lease token) into
 * its toJSON form, a list of every byte, before the replacer sees it.
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

/** An object of numbers, booleans and short strings only. */
function isFlat(body: unknown): body is object {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return false;
  for (const k in body) {
    const v = (body as Record<string, unknown>)[k];
    if (typeof v === "object" ? v !== null : typeof v === "string" && v.length > MAX_FIELD_CHARS) return false;
  }
  return true;
}
