// gfs rpc-log: a daemon's RPC log (DIR/rpc.log, kept in its own binary form)
// as text, one line per request served, oldest first.
import { defineCommand } from "citty";
import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { RPC_LOG_MAGIC } from "../../core/rpc-log";
import { isRpcLog, parseRecords, RpcLogPrinter, type RpcRecord } from "../../core/rpc-log-text";
import { ExitError } from "../errors";

const FOLLOW_POLL_MS = 500;

export default defineCommand({
  meta: { name: "rpc-log", description: "Print a master's or chunk server's RPC log: every request it served, with its reply, one line each" },
  args: {
    dir: { type: "positional", required: false, description: "The daemon's data directory (its rpc.log.1, then rpc.log) or one rpc.log file (default: .)" },
    follow: { type: "boolean", alias: "f", description: "Keep printing requests as they are logged, until Ctrl-C" },
    json: { type: "boolean", description: "One JSON object per record as logged: kind (request or reply), timeMs, ms, peer, envelope" },
  },
  async run({ args }) {
    const target = args.dir ?? ".";
    if (!existsSync(target)) throw new ExitError(1, `${target}: no such file or directory`);
    const isDir = statSync(target).isDirectory();
    const current = isDir ? join(target, "rpc.log") : target;
    const files = isDir ? [join(target, "rpc.log.1"), current].filter((f) => existsSync(f) && (f === current || isRpcLogFile(f))) : [current];
    if (files.length === 0 && !args.follow) throw new ExitError(1, `${target}: no rpc.log here (is it a master's or chunk server's data directory?)`);
    const printer = new RpcLogPrinter();
    const out = (r: RpcRecord) => {
      if (args.json) process.stdout.write(JSON.stringify(r, (_k, v) => (v instanceof Uint8Array || v?.type === "Buffer" ? `<${v.byteLength ?? v.data?.length} bytes>` : v)) + "\n");
      else for (const line of printer.add(r)) process.stdout.write(line + "\n");
    };
    let offset = 0;
    for (const file of files) offset = readFrom(file, 0, out);
    if (!args.follow) {
      if (!args.json) for (const line of printer.unanswered()) process.stdout.write(line + "\n");
      return;
    }
    for (;;) {
      await Bun.sleep(FOLLOW_POLL_MS);
      const size = existsSync(current) ? statSync(current).size : 0;
      if (size < offset) offset = 0; // rotated: a new file began
      if (size > offset) offset = readFrom(current, offset, out);
    }
  },
});

/** Prints the whole records of `file` from `offset` (0: its start); returns where the next read begins. */
function readFrom(file: string, offset: number, out: (r: RpcRecord) => void): number {
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    const bytes = Buffer.alloc(size - offset);
    let got = 0;
    while (got < bytes.byteLength) {
      const n = readSync(fd, bytes, got, bytes.byteLength - got, offset + got);
      if (n <= 0) break;
      got += n;
    }
    const data = bytes.subarray(0, got);
    if (offset === 0) {
      if (data.byteLength === 0) return 0;
      if (!isRpcLog(data)) throw new ExitError(1, `${file} is not an RPC log`);
    }
    let parsed;
    try {
      // Parsed from just past the file's magic, or from where the last read ended.
      parsed = parseRecords(data, offset === 0 ? RPC_LOG_MAGIC.length : 0);
    } catch (err) {
      throw new ExitError(1, `${file}: ${(err as Error).message}`);
    }
    for (const r of parsed.records) out(r);
    return offset + parsed.end;
  } finally {
    closeSync(fd);
  }
}

/** Whether `file` is in the RPC log's form (rpc.log.1 may be a text log an older version wrote, moved aside). */
function isRpcLogFile(file: string): boolean {
  const fd = openSync(file, "r");
  try {
    const head = Buffer.alloc(RPC_LOG_MAGIC.length);
    return readSync(fd, head, 0, head.byteLength, 0) === head.byteLength && isRpcLog(head);
  } finally {
    closeSync(fd);
  }
}
