// The master loses nothing it acknowledged: operation log, checkpoints,
// versions and stale replicas across SIGKILL.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../../core/client";
import { TestCluster, runGfs, startDaemon, stopAll, waitFor } from "../helpers/cluster";

afterAll(stopAll);

describe("master durability", () => {
  test("every create acknowledged before a SIGKILL is there after restart (8 concurrent clients)", async () => {
    const cluster = await new TestCluster({ chunkservers: 1, replication: 1 }).start();
    try {
      const acked: string[] = [];
      let stop = false;
      const workers = Array.from({ length: 8 }, async (_, w) => {
        const c = connect({ master: cluster.masterAddr, deadlineMs: 0 });
        await c.mkdir(`/w${w}`).catch(() => {});
        for (let i = 0; !stop; i++) {
          try {
            await c.create(`/w${w}/f${i}`);
            acked.push(`/w${w}/f${i}`);
          } catch {
            break;
          }
        }
        c.close();
      });
      await waitFor("some creates", () => acked.length > 400, 30_000);
      await cluster.kill(cluster.master);
      stop = true;
      await Promise.all(workers);
      await cluster.restartMaster();
      const c = connect({ master: cluster.masterAddr });
      const present = new Set<string>();
      for (let w = 0; w < 8; w++) for (const e of (await c.ls(`/w${w}`)).entries) present.add(`/w${w}/${e.name}`);
      c.close();
      const missing = acked.filter((p) => !present.has(p));
      expect(missing).toEqual([]);
      expect(present.size).toBeGreaterThanOrEqual(acked.length);
    } finally {
      await cluster.stop();
    }
  });

  test("checkpoints are written in the background and recovery uses them", async () => {
    const cluster = await new TestCluster({ chunkservers: 3, masterArgs: ["--checkpoint-bytes", "32KiB"] }).start();
    try {
      const c = connect({ master: cluster.masterAddr });
      await c.mkdir("/many");
      for (let i = 0; i < 1500; i += 50) await Promise.all(Array.from({ length: 50 }, (_, k) => c.create(`/many/f${i + k}`)));
      await c.put("/data", (async function* () {
        yield new Uint8Array(3 * 1024 * 1024).fill(7);
      })());
      await waitFor("a checkpoint", () => cluster.master.log.some((l) => /checkpoint \d+ written/.test(l)), 30_000);
      c.close();
      await cluster.kill(cluster.master);
      const files = readdirSync(cluster.master.dataDir);
      expect(files.some((f) => /^checkpoint\.\d+$/.test(f))).toBe(true);
      await cluster.restartMaster();
      // Directories: the root, /many, and /.put where puts keep files until complete.
      expect(cluster.master.log.find((l) => /recovered/.test(l))).toMatch(/recovered 1501 files, 3 directories, 3 chunks \(checkpoint [1-9]\d*, \d+ logged changes\)/);
      await cluster.waitForServers(3);
      const out = await cluster.gfs(["cat", "/data"]);
      expect(out.stdoutBytes.byteLength).toBe(3 * 1024 * 1024);
      expect(out.stdoutBytes.every((b) => b === 7)).toBe(true);
      expect(JSON.parse((await cluster.gfs(["ls", "/many", "--json"])).stdout)).toHaveLength(1500);
    } finally {
      await cluster.stop();
    }
  });

  test("a replica that missed a version bump is stale: never handed out, and deleted when its server returns", async () => {
    const cluster = await new TestCluster({ chunkservers: 3 }).start();
    try {
      await cluster.gfs(["put", "-", "/f"], { stdin: "version one\n" });
      const before = JSON.parse((await cluster.gfs(["stat", "/f", "--json"])).stdout).chunks[0];
      const victim = cluster.chunkservers[0]!;
      await cluster.kill(victim);
      await cluster.waitForServers(2);
      // A new lease on the chunk raises its version on the two live replicas.
      const c = connect({ master: cluster.masterAddr });
      const grant = await c.lease("/f", 0, true);
      c.close();
      expect(grant.version).toBeGreaterThan(before.version);
      cluster.chunkservers[0] = await cluster.startChunkserver(0, victim.port);
      await cluster.waitForServers(3);
      await waitFor("stale replica deleted", () => cluster.chunkservers[0]!.log.some((l) => /deleted: master does not want it/.test(l)));
      const after = JSON.parse((await cluster.gfs(["stat", "/f", "--json"])).stdout).chunks[0];
      expect(after.version).toBe(grant.version);
      expect(after.replicas.map((r: { server: string }) => r.server)).not.toContain(victim.addr);
      expect(after.replicas).toHaveLength(2);
      expect((await cluster.gfs(["cat", "/f"])).stdout).toBe("version one\n");
      const chunkFiles = readdirSync(join(cluster.chunkservers[0]!.dataDir, "chunks"));
      expect(chunkFiles).toEqual([]);
    } finally {
      await cluster.stop();
    }
  });

  test("a master killed between raising a version on the replicas and logging it, on its first raise since a restart: every replica is still listed afterwards", async () => {
    const cluster = await new TestCluster({ chunkservers: 3 }).start();
    try {
      await cluster.gfs(["put", "-", "/f"], { stdin: "kept across two crashes\n" });
      const before = JSON.parse((await cluster.gfs(["stat", "/f", "--json"])).stdout).chunks[0];
      // A new run: its first raise of this chunk is the one a crash interrupts.
      await cluster.kill(cluster.master);
      await cluster.restartMaster();
      await cluster.waitForServers(3);
      const hung = cluster.chunkservers[2]!;
      hung.proc.kill("SIGSTOP");
      const c = connect({ master: cluster.masterAddr, deadlineMs: 0 });
      const raising = c.lease("/f", 0, true).catch(() => null);
      // The two running replicas take the new version; the master waits for the third before it logs.
      const diskVersion = (i: number) => {
        // stat --json spells the handle as the chunk files are named (16 hex digits).
        const header = readFileSync(join(cluster.chunkservers[i]!.dataDir, "chunks", `${before.handle}.meta`));
        return header.readUInt32BE(8) * 2 ** 32 + header.readUInt32BE(12);
      };
      await waitFor("the new version on two replicas", () => diskVersion(0) > before.version && diskVersion(1) > before.version);
      const sent = diskVersion(0);
      await cluster.kill(cluster.master);
      hung.proc.kill("SIGCONT");
      await raising;
      c.close();
      await cluster.restartMaster();
      await cluster.waitForServers(3);
      const listed = await waitFor("every replica listed", async () => {
        const chunk = JSON.parse((await cluster.gfs(["stat", "/f", "--json"])).stdout).chunks[0];
        return chunk.replicas.length === 3 ? chunk : null;
      });
      expect(listed.replicas.map((r: { server: string }) => r.server).sort()).toEqual(cluster.chunkservers.map((d) => d.addr).sort());
      expect(cluster.master.log.filter((l) => /not listed/.test(l))).toEqual([]);
      // Any two of them serve the file.
      await cluster.kill(cluster.chunkservers[0]!);
      expect((await cluster.gfs(["cat", "/f"])).stdout).toBe("kept across two crashes\n");
      // And a new lease still works: its version is above every one sent before.
      const again = connect({ master: cluster.masterAddr });
      const grant = await again.lease("/f", 0, true);
      again.close();
      expect(grant.version).toBeGreaterThan(sent);
      expect(diskVersion(1)).toBe(grant.version);
    } finally {
      await cluster.stop();
    }
  });

  test("a flipped byte in the middle of the log: the master refuses to start, changes nothing, and --recover starts from the last good record", async () => {
    const cluster = await new TestCluster({ chunkservers: 1, replication: 1 }).start();
    try {
      const c = connect({ master: cluster.masterAddr });
      for (let i = 0; i < 200; i++) await c.mkdir(`/d${String(i).padStart(3, "0")}`);
      c.close();
      await cluster.kill(cluster.master);
      const logPath = join(cluster.master.dataDir, readdirSync(cluster.master.dataDir).find((n) => /^log\.\d+$/.test(n))!);
      const bytes = readFileSync(logPath);
      let end = bytes.length;
      while (end > 0 && bytes[end - 1] === 0) end--;
      const at = Math.floor(end / 4);
      bytes[at] = bytes[at]! ^ 0xff;
      writeFileSync(logPath, bytes);
      const refused = await runGfs(cluster.master.args, { check: false, timeoutMs: 30_000 });
      expect(refused.code).toBe(1);
      const lines = refused.stderr.trim().split("\n").filter((l) => /^gfs: /.test(l));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^gfs: operation log ${logPath} is damaged at byte \\d+: .*refuses to start and has changed nothing on disk.*--recover`));
      expect(Buffer.compare(readFileSync(logPath), bytes)).toBe(0);

      cluster.master = await startDaemon("master", [...cluster.master.args, "--recover"], cluster.master.dataDir);
      expect(cluster.master.log.some((l) => /--recover: the operation log was damaged; kept the first \d+ bytes/.test(l))).toBe(true);
      const names = JSON.parse((await cluster.gfs(["ls", "/", "--json"])).stdout).map((e: { name: string }) => e.name);
      // Every directory before the damage, in order, and none after it.
      expect(names.length).toBeGreaterThan(20);
      expect(names.length).toBeLessThan(100);
      expect(names).toEqual(Array.from({ length: names.length }, (_, i) => `d${String(i).padStart(3, "0")}`));
      expect(readdirSync(cluster.master.dataDir).some((n) => n.includes(".damaged-"))).toBe(true);
    } finally {
      await cluster.stop();
    }
  });

  test("a chunk server killed and restarted comes back with its chunks", async () => {
    const cluster = await new TestCluster({ chunkservers: 3 }).start();
    try {
      await cluster.gfs(["put", "-", "/g"], { stdin: "x".repeat(3_000_000) });
      const cs = cluster.chunkservers[1]!;
      await cluster.kill(cs);
      await waitFor("replicas dropped", async () => JSON.parse((await cluster.gfs(["stat", "/g", "--json"])).stdout).chunks.every((ch: { replicas: unknown[] }) => ch.replicas.length === 2));
      cluster.chunkservers[1] = await cluster.startChunkserver(1, cs.port);
      await waitFor("replicas back", async () => JSON.parse((await cluster.gfs(["stat", "/g", "--json"])).stdout).chunks.every((ch: { replicas: unknown[] }) => ch.replicas.length === 3));
      expect(existsSync(join(cs.dataDir, "server-id"))).toBe(true);
      expect((await cluster.gfs(["cat", "/g"])).stdout).toBe("x".repeat(3_000_000));
    } finally {
      await cluster.stop();
    }
  });
});
