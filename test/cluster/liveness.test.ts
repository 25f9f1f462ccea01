// Never stuck (R3): clients ride through a master restart, and a stalled
// chunk server is given up within seconds.
import { afterAll, describe, expect, test } from "bun:test";
import { GFS, TestCluster, randomBytes, runGfs, stopAll, waitFor } from "../helpers/cluster";

afterAll(stopAll);

const MiB = 1024 * 1024;

describe("a master restart", () => {
  test("6 `gfs append --lines` producers and a put ride through a master SIGKILL and restart: every record once, the put whole", async () => {
    const cluster = await new TestCluster({ chunkservers: 4, replication: 3 }).start();
    try {
      const lines = (w: number, from: number, to: number) => Array.from({ length: to - from }, (_, i) => `p${w}-${String(from + i).padStart(4, "0")}-${"z".repeat(((from + i) * 131) % 700)}`);
      const procs = Array.from({ length: 6 }, () =>
        Bun.spawn([GFS, "append", "/logs/r", "--lines"], { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { ...process.env, GFS_MASTER: cluster.masterAddr } }),
      );
      procs.forEach((p, w) => {
        p.stdin.write(lines(w, 0, 300).join("\n") + "\n");
        p.stdin.flush();
      });
      await waitFor("records before the restart", async () => {
        const r = await cluster.gfs(["cat", "--records", "/logs/r"], { check: false });
        return r.code === 0 && r.stdout.split("\n").length > 600;
      }, 60_000, 100);
      await cluster.kill(cluster.master);
      // Producers keep writing while the master is down.
      procs.forEach((p, w) => {
        p.stdin.write(lines(w, 300, 600).join("\n") + "\n");
        p.stdin.flush();
      });
      await Bun.sleep(2_000); // the master stays down this long: the fault being tested
      await cluster.restartMaster();
      // A put right after the restart, before the chunk servers are back.
      const data = randomBytes(3 * MiB + 17, 31);
      const put = cluster.gfs(["put", "-", "/after-restart"], { stdin: data, check: false });
      procs.forEach((p, w) => {
        p.stdin.write(lines(w, 600, 800).join("\n") + "\n");
        p.stdin.end();
      });
      const results = await Promise.all(procs.map(async (p) => ({ code: await p.exited, err: await new Response(p.stderr).text() })));
      for (const r of results) expect(r.code).toBe(0);
      const putResult = await put;
      expect(putResult.code).toBe(0);
      expect(Buffer.compare((await cluster.gfs(["cat", "/after-restart"])).stdoutBytes, data)).toBe(0);

      const out = (await cluster.gfs(["cat", "--records", "/logs/r"])).stdout.split("\n");
      expect(out.pop()).toBe("");
      expect(out).toHaveLength(6 * 800);
      for (let w = 0; w < 6; w++) expect(out.filter((l) => l.startsWith(`p${w}-`))).toEqual(lines(w, 0, 800));
    } finally {
      await cluster.stop();
    }
  }, 180_000);

  test("a wrong master address says at once that it is waiting, then fails with one line after the deadline", async () => {
    const t0 = Date.now();
    const r = await runGfs(["ls", "/", "--deadline", "3s"], { env: { GFS_MASTER: "127.0.0.1:1" }, check: false });
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^gfs: master 127\.0\.0\.1:1 is unreachable: .*; retrying for up to 3 s$/);
    expect(lines[1]).toMatch(/^gfs: master 127\.0\.0\.1:1 is unreachable/);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });
});

describe("a stalled chunk server", () => {
  test("a 64 MiB put with one of 4 servers SIGSTOPped half-way finishes within 30 s, every byte right", async () => {
    const cluster = await new TestCluster({ chunkservers: 4, replication: 3 }).start();
    const stopped = cluster.chunkservers[0]!;
    try {
      const data = randomBytes(64 * MiB, 32);
      const put = Bun.spawn([GFS, "put", "-", "/big"], { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { ...process.env, GFS_MASTER: cluster.masterAddr } });
      put.stdin.write(data.subarray(0, 24 * MiB));
      put.stdin.flush();
      await waitFor("the put to be under way", async () => {
        const tmp = JSON.parse((await cluster.gfs(["ls", "/.put", "--json"])).stdout)[0];
        return tmp && tmp.chunks >= 8;
      }, 30_000, 50);
      stopped.proc.kill("SIGSTOP");
      const t0 = Date.now();
      put.stdin.write(data.subarray(24 * MiB));
      put.stdin.end();
      expect(await put.exited).toBe(0);
      expect(Date.now() - t0).toBeLessThan(30_000);
      stopped.proc.kill("SIGCONT");
      const out = await cluster.gfs(["cat", "/big"]);
      expect(Buffer.compare(out.stdoutBytes, data)).toBe(0);
    } finally {
      stopped.proc.kill("SIGCONT");
      await cluster.stop();
    }
  }, 120_000);

  test("cat with a SIGSTOPped replica still listed takes seconds, not minutes", async () => {
    const cluster = await new TestCluster({ chunkservers: 3, replication: 3, masterArgs: ["--dead-after", "60s"] }).start();
    const stopped = cluster.chunkservers[1]!;
    try {
      const data = randomBytes(16 * MiB, 33);
      await cluster.gfs(["put", "-", "/f"], { stdin: data });
      stopped.proc.kill("SIGSTOP");
      const t0 = Date.now();
      const out = await cluster.gfs(["cat", "/f"]);
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(Buffer.compare(out.stdoutBytes, data)).toBe(0);
      // The master still lists the stopped server: the reader got around it by itself.
      const st = JSON.parse((await cluster.gfs(["stat", "/f", "--json"])).stdout);
      expect(st.chunks.some((c: { replicas: { server: string }[] }) => c.replicas.some((r) => r.server === stopped.addr))).toBe(true);
    } finally {
      stopped.proc.kill("SIGCONT");
      await cluster.stop();
    }
  }, 60_000);
});

describe("slow links", () => {
  // With 4 MiB chunks and 1 MiB records, a chunk fills several times while one
  // client's record travels; its retries name the data already pushed.
  test("16 `gfs append --lines` clients, 16 records of 1 MiB each, over 25 Mbit/s links: every client exits 0, every record once", async () => {
    // The set-up: heartbeat 1 s, dead-after 5 s, lease 10 s.
    const cluster = await new TestCluster({ chunkservers: 3, replication: 3, chunkSize: "4MiB", proxies: true, masterArgs: ["--heartbeat", "1s", "--dead-after", "5s", "--lease", "10s"] }).start();
    try {
      for (const p of cluster.proxies) p.inboundBytesPerSec = 25_000_000 / 8;
      const line = (c: number, i: number) => `c${String(c).padStart(2, "0")}-${String(i).padStart(2, "0")}-` + String.fromCharCode(97 + ((c + i) % 26)).repeat(MiB - 64);
      const t0 = Date.now();
      const clients = Array.from({ length: 16 }, (_, c) => {
        const p = Bun.spawn([GFS, "append", "/slow", "--lines"], { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { ...process.env, GFS_MASTER: cluster.masterAddr } });
        // Fed as it reads, like a producer: a client that dies shows in its exit status below.
        const fed = (async () => {
          for (let i = 0; i < 16; i++) {
            p.stdin.write(line(c, i) + "\n");
            await p.stdin.flush();
          }
          await p.stdin.end();
        })().catch(() => {});
        return { p, fed };
      });
      const results = await Promise.all(clients.map(async ({ p, fed }) => ({ code: await p.exited, err: await new Response(p.stderr).text(), fed: await fed })));
      const seconds = (Date.now() - t0) / 1000;
      for (const r of results) expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: expect.any(String) });
      // The links were the bottleneck: 256 MiB over 25 Mbit/s takes over a minute.
      expect(seconds).toBeGreaterThan(60);
      const out = (await cluster.gfs(["cat", "--records", "/slow"])).stdout.split("\n");
      expect(out.pop()).toBe("");
      expect(out).toHaveLength(256);
      for (let c = 0; c < 16; c++) expect(out.filter((l) => l.startsWith(`c${String(c).padStart(2, "0")}-`))).toEqual(Array.from({ length: 16 }, (_, i) => line(c, i)));
    } finally {
      await cluster.stop();
    }
  }, 300_000);
});
