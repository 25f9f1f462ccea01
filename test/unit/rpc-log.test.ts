// The RPC log (core/rpc-log.ts) and its text (core/rpc-log-text.ts): what a
// reader of rpc.log sees after requests are served, from the frames that
// crossed the wire.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RPC_LOG_MAGIC, RpcLog } from "../../core/rpc-log";
import { parseRecords, RpcLogPrinter } from "../../core/rpc-log-text";
import { decodeMessage, encodeMessage } from "../../net/envelope";
import { FRAME_PREFIX_BYTES } from "../../net/frame";

/** The head of a request's frame, as a peer hands it to the log on arrival. */
function requestHead(envelope: unknown, tail?: Uint8Array): Uint8Array {
  return decodeMessage(Buffer.concat([encodeMessage(envelope, tail).subarray(FRAME_PREFIX_BYTES), tail ?? new Uint8Array()])).head;
}

function textOf(path: string): string[] {
  const printer = new RpcLogPrinter();
  const lines = parseRecords(readFileSync(path)).records.flatMap((r) => printer.add(r));
  return [...lines, ...printer.unanswered()];
}

function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "gfs-rpclog-"));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

describe("the RPC log", () => {
  test("one line per request: arrival time, peer, type, outcome, duration, body and reply, without file data", () =>
    withDir(async (dir) => {
      const log = new RpcLog(dir);
      const a = { remote: "127.0.0.1:5000" };
      const b = { remote: "127.0.0.1:5001" };
      log.request(a, requestHead({ i: 1, t: "create", b: { path: "/a" } }));
      // Another peer's call with the same id is a different call.
      log.request(b, requestHead({ i: 1, t: "write", b: { handle: 3, dataId: "d1" } }, new Uint8Array(10)));
      log.reply(b, 12, encodeMessage({ i: 1, e: { code: "STALE", message: "chunk 3 moved on" } }));
      log.reply(a, 0.123, encodeMessage({ i: 1, r: { handle: "000000000000002a" } }));
      // A lease token is bytes: its length is shown; long lists and strings are cut.
      const chain = Array.from({ length: 25 }, (_, i) => `cs${i}`);
      log.request(a, requestHead({ i: 2, t: "applyWrite", b: { handle: 4, lease: { primary: "p", token: Buffer.alloc(16, 7) }, chain, note: "x".repeat(300) } }));
      log.reply(a, 0.1, encodeMessage({ i: 2, r: { chunkBytes: 4096 } }));
      // A read's reply carries 1 MiB as its tail: the log keeps none of it.
      log.request(a, requestHead({ i: 3, t: "read", b: { handle: 4, version: 2, offset: 0, length: 1 << 20 } }));
      log.reply(a, 3, encodeMessage({ i: 3, r: { chunkBytes: 1 << 20, crc: 7 } }, new Uint8Array(1 << 20)));
      log.request(b, requestHead({ i: 9, t: "ls", b: { path: "/" } }));
      await log.close();

      const file = join(dir, "rpc.log");
      expect(readFileSync(file).subarray(0, RPC_LOG_MAGIC.length).toString("latin1")).toBe(RPC_LOG_MAGIC);
      expect(readFileSync(file).byteLength).toBeLessThan(2048);
      const lines = textOf(file);
      expect(lines).toHaveLength(5);
      expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z 127\.0\.0\.1:5001 write STALE 12\.00ms \{"handle":3,"dataId":"d1"\} -> \{"message":"chunk 3 moved on"\}$/);
      expect(lines[1]).toMatch(/ 127\.0\.0\.1:5000 create ok 0\.12ms \{"path":"\/a"\} -> \{"handle":"000000000000002a"\}$/);
      const applied = JSON.parse(lines[2]!.slice(lines[2]!.indexOf("{"), lines[2]!.indexOf(" -> ")));
      expect(applied.lease).toEqual({ primary: "p", token: "<16 bytes>" });
      expect(applied.chain).toEqual([...chain.slice(0, 20), "... 5 more"]);
      expect(applied.note).toBe("x".repeat(200) + "...");
      expect(lines[3]).toMatch(/ read ok 3\.00ms \{"handle":4,"version":2,"offset":0,"length":1048576\} -> \{"chunkBytes":1048576,"crc":7\}$/);
      expect(lines[4]).toMatch(/ 127\.0\.0\.1:5001 ls unanswered - \{"path":"\/"\}$/);
      const stamp = Date.parse(lines[0]!.split(" ")[0]!);
      expect(Math.abs(Date.now() - stamp)).toBeLessThan(60_000);
    }));

  test("a text log of an older version is moved aside; past its size the log moves to rpc.log.1 and a new one begins", () =>
    withDir(async (dir) => {
      const textLine = "2026-11-20T00:00:00.000Z 127.0.0.1:1 create ok 0.10ms {}\n";
      writeFileSync(join(dir, "rpc.log"), textLine);
      const log = new RpcLog(dir, 4096);
      const peer = { remote: "127.0.0.1:5000" };
      const pathOf = (i: number) => `/f${i}/${"p".repeat(60)}`; // about 150 bytes a request and reply: 49 of them pass 4 KiB
      const serve = (from: number, to: number) => {
        for (let i = from; i <= to; i++) {
          log.request(peer, requestHead({ i, t: "create", b: { path: pathOf(i) } }));
          log.reply(peer, 0.2, encodeMessage({ i, r: {} }));
        }
      };
      const paths = (file: string) => textOf(join(dir, file)).map((l) => JSON.parse(l.slice(l.indexOf("{"), l.indexOf(" -> "))).path);
      const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, k) => pathOf(from + k));
      serve(1, 1);
      await log.flush();
      expect(readFileSync(join(dir, "rpc.log.1"), "utf8")).toBe(textLine);
      expect(paths("rpc.log")).toEqual(range(1, 1));
      serve(2, 50);
      await log.flush();
      serve(51, 100);
      await log.close();
      expect(paths("rpc.log.1")).toEqual(range(2, 50));
      expect(paths("rpc.log")).toEqual(range(51, 100));
      expect(existsSync(join(dir, "rpc.log.2"))).toBe(false);
    }));

  test("a file cut inside a record (a daemon killed mid-write) reads up to the last whole record", () =>
    withDir(async (dir) => {
      const log = new RpcLog(dir);
      const peer = { remote: "127.0.0.1:5000" };
      for (let i = 1; i <= 3; i++) {
        log.request(peer, requestHead({ i, t: "mkdir", b: { path: `/d${i}` } }));
        log.reply(peer, 0.2, encodeMessage({ i, r: {} }));
      }
      await log.close();
      const whole = readFileSync(join(dir, "rpc.log"));
      const { records, end } = parseRecords(whole.subarray(0, whole.byteLength - 3));
      expect(records).toHaveLength(5);
      expect(end).toBeLessThan(whole.byteLength);
      expect(parseRecords(whole).end).toBe(whole.byteLength);
    }));
});
