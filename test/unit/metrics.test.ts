// Request metrics and the RPC log line (core/metrics.ts, core/rpc-log.ts): what
// /metrics and rpc.log say after requests are served.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MetricsRegistry } from "../../core/metrics";
import { RpcLog } from "../../core/rpc-log";

describe("request metrics", () => {
  test("counts by type and outcome, and a cumulative latency histogram per type", () => {
    const m = new MetricsRegistry("gfs_test");
    m.served("create", "ok", 0.3);
    m.served("create", "ok", 2);
    m.served("create", "NOT_FOUND", 0.05);
    m.served("ls", "ok", 20_000);
    const text = m.render();
    expect(text).toContain('gfs_test_requests_total{type="create",outcome="ok"} 2');
    expect(text).toContain('gfs_test_requests_total{type="create",outcome="NOT_FOUND"} 1');
    expect(text).toContain('gfs_test_requests_total{type="ls",outcome="ok"} 1');
    const bucket = (type: string, le: string) => Number(new RegExp(`gfs_test_request_duration_seconds_bucket\\{type="${type}",le="${le.replace(/[.+]/g, "\\$&")}"\\} (\\d+)`).exec(text)?.[1]);
    expect([bucket("create", "0.0001"), bucket("create", "0.0005"), bucket("create", "0.001"), bucket("create", "0.005"), bucket("create", "10"), bucket("create", "+Inf")]).toEqual([1, 2, 2, 3, 3, 3]);
    // 20 s is above every bucket: only +Inf holds it.
    expect([bucket("ls", "10"), bucket("ls", "+Inf")]).toEqual([0, 1]);
    expect(text).toContain('gfs_test_request_duration_seconds_count{type="create"} 3');
  });
});

describe("the RPC log", () => {
  test("one line per request: the time to the millisecond, peer, type, outcome, duration and body", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gfs-rpclog-"));
    try {
      const log = new RpcLog(dir);
      log.record("create", "ok", 0.123, { path: "/a" }, "127.0.0.1:5000");
      log.record("write", "STALE", 12, { handle: 3, data: new Uint8Array(10) }, "127.0.0.1:5001");
      // A lease token is a Buffer: its length is shown, not its bytes; long lists and strings are cut.
      const chain = Array.from({ length: 25 }, (_, i) => `cs${i}`);
      log.record("applyWrite", "ok", 0.1, { handle: 4, lease: { primary: "p", token: Buffer.alloc(16, 7) }, chain, note: "x".repeat(300) }, "127.0.0.1:5002");
      await log.close();
      const lines = readFileSync(join(dir, "rpc.log"), "utf8").trimEnd().split("\n");
      expect(lines).toHaveLength(3);
      const applied = JSON.parse(lines[2]!.slice(lines[2]!.indexOf("{")));
      expect(applied.lease).toEqual({ primary: "p", token: "<16 bytes>" });
      expect(applied.chain).toEqual([...chain.slice(0, 20), "... 5 more"]);
      expect(applied.note).toBe("x".repeat(200) + "...");
      expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z 127\.0\.0\.1:5000 create ok 0\.12ms \{"path":"\/a"\}$/);
      expect(lines[1]).toMatch(/ 127\.0\.0\.1:5001 write STALE 12\.00ms \{"handle":3,"data":"<10 bytes>"\}$/);
      const stamp = Date.parse(lines[0]!.split(" ")[0]!);
      expect(Math.abs(Date.now() - stamp)).toBeLessThan(60_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
