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
