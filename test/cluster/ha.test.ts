// Master high availability (M16): a real etcd, three `gfs master --etcd` and
// four chunk servers on loopback. The leader is SIGKILLed, SIGSTOPped past
// its lease, wiped; etcd itself goes away. What users see is checked: every
// acknowledged change is there exactly once, reads go on, writes come back.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, readdirSync, rmSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../../core/client";
import { decodeRecords } from "../../core/master/records";
import { GFS, runGfs, randomBytes, stopAll, waitFor } from "../helpers/cluster";
import { HaCluster } from "../helpers/ha-cluster";

afterAll(stopAll);

describe("master high availability on etcd", () => {
  test("SIGKILL of the leader under 8 append producers, puts and mkdirs: a standby leads within 10 s, every producer exits 0, every acknowledged change is there once", async () => {
    const cluster = await new HaCluster().start();
    try {
      const first = await cluster.leader();
      await cluster.gfs(["mkdir", "/p"]);
      // 8 producers, each a `gfs append --lines` process fed slowly enough to outlive the failover.
      const lines = (w: number) => Array.from({ length: 400 }, (_, i) => `w${w}-${String(i).padStart(4, "0")}`);
      const procs = Array.from({ length: 8 }, (_, w) => {
        const p = Bun.spawn([GFS, "append", "/p/log", "--lines", "--deadline", "60s"], {
          stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { ...process.env, GFS_MASTER: cluster.masterList, GFS_LOG_LEVEL: "3" },
        });
        return p;
      });
      const feeding = procs.map(async (p, w) => {
        const all = lines(w);
        // About 10 s of writing, across the failover.
        for (let i = 0; i < all.length; i += 20) {
          p.stdin.write(all.slice(i, i + 20).join("\n") + "\n");
          p.stdin.flush();
          await Bun.sleep(500);
        }
        p.stdin.end();
      });
      // Puts and mkdirs in a loop, through whichever master leads.
      const acked = { dirs: [] as string[], files: new Map<string, Uint8Array>() };
      let stopLoop = false;
      const loop = (async () => {
        for (let i = 0; !stopLoop; i++) {
          const d = `/d${i}`;
          const r = await cluster.gfs(["mkdir", d, "--deadline", "60s"], { check: false });
          if (r.code === 0) acked.dirs.push(d);
          const data = randomBytes(100_000 + i * 1000, i);
          const put = await cluster.gfs(["put", "-", `/f${i}`, "--deadline", "60s"], { stdin: data, check: false });
          if (put.code === 0) acked.files.set(`/f${i}`, data);
        }
      })();
      await waitFor("some puts", () => acked.files.size >= 2, 30_000);
      cluster.masters[first]!.proc.kill("SIGKILL");
      const killedAt = Date.now();
      const next = await cluster.leader(20_000, first);
      const failoverMs = Date.now() - killedAt;
      expect(next).not.toBe(first);
      expect(failoverMs).toBeLessThan(10_000);
      await waitFor("acknowledged changes through the new leader", () => acked.files.size >= 4, 60_000);
      await Promise.all(feeding);
      const results = await Promise.all(procs.map(async (p) => ({ code: await p.exited, err: await new Response(p.stderr).text() })));
      stopLoop = true;
      await loop;
      expect(results.map((r) => (r.code === 0 ? 0 : `${r.code}: ${r.err.trim()}`))).toEqual(Array(8).fill(0));
      // Every record exactly once.
      const records = (await cluster.gfs(["cat", "--records", "/p/log"])).stdout.trim().split("\n");
      const counts = new Map<string, number>();
      for (const r of records) counts.set(r, (counts.get(r) ?? 0) + 1);
      for (let w = 0; w < 8; w++) for (const l of lines(w)) expect(`${l}:${counts.get(l) ?? 0}`).toBe(`${l}:1`);
      expect(records.length).toBe(8 * 400);
      // Every acknowledged directory and file, the files byte for byte.
      const root = JSON.parse((await cluster.gfs(["ls", "/", "--json"])).stdout) as { name: string }[];
      const names = new Set(root.map((e) => `/${e.name}`));
      for (const d of acked.dirs) expect(names.has(d)).toBe(true);
      for (const [path, data] of acked.files) {
        const got = await cluster.gfs(["cat", path]);
        expect(Buffer.compare(got.stdoutBytes, data)).toBe(0);
      }
      // The killed master comes back as a standby and catches up.
      await cluster.restartMaster(first);
      await waitFor("the old leader back as a standby", async () => (await cluster.roleOf(first))?.role === "standby", 20_000);
    } finally {
      await cluster.stop();
    }
  }, 180_000);

  test("a leader SIGSTOPped past its lease is deposed: it commits nothing more and rejoins as a standby", async () => {
    const cluster = await new HaCluster().start();
    try {
      const old = await cluster.leader();
      await cluster.gfs(["mkdir", "/before"]);
      // A client connected to the old leader alone sends a change while it is stopped.
      cluster.masters[old]!.proc.kill("SIGSTOP");
      const stuck = runGfs(["mkdir", "/sent-to-stopped", "--deadline", "20s"], { env: { GFS_MASTER: cluster.masters[old]!.addr }, check: false, timeoutMs: 60_000 });
      const next = await cluster.leader(20_000, old);
      expect(next).not.toBe(old);
      await cluster.gfs(["mkdir", "/after"]);
      cluster.masters[old]!.proc.kill("SIGCONT");
      const r = await stuck;
      await waitFor("the old leader back as a standby", async () => (await cluster.roleOf(old))?.role === "standby", 20_000);
      // The old leader commits nothing after losing its lease: the change sent to it is in the namespace
      // if and only if it was acknowledged (by the new leader, to which the old one redirected it).
      const ls = JSON.parse((await cluster.gfs(["ls", "/", "--json"])).stdout).map((e: { name: string }) => e.name);
      expect(ls).toEqual(r.code === 0 ? ["after", "before", "sent-to-stopped"] : ["after", "before"]);
      if (r.code !== 0) expect(r.stderr).toMatch(/^gfs: /);
      // Its own view agrees with the leader's.
      const viaOld = await waitFor("the old leader's view to catch up", async () => {
        const x = await runGfs(["ls", "/", "--json"], { env: { GFS_MASTER: cluster.masters[old]!.addr }, check: false });
        return x.code === 0 && x.stdout === (await cluster.gfs(["ls", "/", "--json"])).stdout;
      });
      expect(viaOld).toBe(true);
      expect(cluster.masters[old]!.log.some((l) => /no longer the leader/.test(l))).toBe(true);
    } finally {
      await cluster.stop();
    }
  }, 120_000);

  test("a standby whose data directory is wiped fetches a peer's checkpoint, follows the log, and serves ls and stat identical to the leader's", async () => {
    const cluster = await new HaCluster({ masterArgs: ["--checkpoint-bytes", "16KiB"] }).start();
    try {
      const lead = await cluster.leader();
      const standby = (lead + 1) % 3;
      // Enough changes for every master to checkpoint, and for the leader to prune the log in etcd.
      for (let k = 0; k < 3; k++) await cluster.gfs(["mkdir", "-p", ...Array.from({ length: 100 }, (_, i) => `/tree/d${k * 100 + i}/sub`)]);
      await cluster.gfs(["put", "-", "/tree/file"], { stdin: randomBytes(2_500_000, 7) });
      await waitFor("the leader to prune the log in etcd", () => cluster.masters[lead]!.log.some((l) => /pruned \d+ log batches/.test(l)), 30_000);
      cluster.masters[standby]!.proc.kill("SIGKILL");
      await cluster.masters[standby]!.proc.exited;
      rmSync(cluster.masters[standby]!.dataDir, { recursive: true, force: true });
      await cluster.gfs(["mkdir", "-p", ...Array.from({ length: 10 }, (_, i) => `/tree/e${i}/sub`)]);
      await cluster.restartMaster(standby);
      await waitFor("the wiped standby to fetch a checkpoint", () => cluster.masters[standby]!.log.some((l) => /installed the checkpoint of/.test(l)), 30_000);
      const only = (i: number) => ({ GFS_MASTER: cluster.masters[i]!.addr });
      await waitFor("the wiped standby to serve /tree", async () => (await runGfs(["ls", "/tree"], { env: only(standby), check: false })).code === 0, 30_000);
      const a = await runGfs(["ls", "-R", "/tree", "--json"], { env: only(lead) });
      const b = await waitFor("the same listing", async () => {
        const x = await runGfs(["ls", "-R", "/tree", "--json"], { env: only(standby), check: false });
        return x.code === 0 && x.stdout === a.stdout ? x : null;
      }, 20_000);
      expect(b.stdout).toBe(a.stdout);
      const sa = JSON.parse((await runGfs(["stat", "/tree/file", "--json"], { env: only(lead) })).stdout);
      const sb = JSON.parse((await runGfs(["stat", "/tree/file", "--json"], { env: only(standby) })).stdout);
      expect(sb.size).toBe(sa.size);
      expect(sb.chunks.map((c: { handle: string; version: number }) => `${c.handle}@${c.version}`)).toEqual(sa.chunks.map((c: { handle: string; version: number }) => `${c.handle}@${c.version}`));
    } finally {
      await cluster.stop();
    }
  }, 120_000);

  test("a standby whose local log ends inside a batch (a crash between two writes of its copy) catches up from etcd", async () => {
    const cluster = await new HaCluster().start();
    try {
      const lead = await cluster.leader();
      const standby = (lead + 1) % 3;
      // Concurrent creates: batches of several changes each.
      const clients = Array.from({ length: 8 }, () => connect({ master: cluster.masterList }));
      await clients[0]!.mkdir("/many");
      await Promise.all(clients.map(async (c, w) => {
        for (let i = 0; i < 40; i++) await c.create(`/many/w${w}-${i}`);
      }));
      for (const c of clients) c.close();
      const applied = async (i: number) => (await cluster.roleOf(i))?.appliedOp ?? -1;
      const end = await applied(lead);
      await waitFor("the standby to apply everything", async () => (await applied(standby)) === end);
      // A batch of at least two changes, from etcd's keys.
      const keys = await fetch(`${cluster.etcd.url}/v3/kv/range`, {
        method: "POST",
        body: JSON.stringify({ key: Buffer.from("/gfs/log/").toString("base64"), range_end: Buffer.from("/gfs/log0").toString("base64"), keys_only: true }),
      }).then((r) => r.json() as Promise<{ kvs: { key: string }[] }>);
      const firsts = keys.kvs.map((kv) => Number(Buffer.from(kv.key, "base64").toString().slice("/gfs/log/".length)));
      const at = firsts.findIndex((f, i) => i + 1 < firsts.length && firsts[i + 1]! - f >= 2);
      expect(at).toBeGreaterThanOrEqual(0);
      const keep = firsts[at]!; // the standby keeps changes up to the first of that batch
      cluster.masters[standby]!.proc.kill("SIGKILL");
      await cluster.masters[standby]!.proc.exited;
      const dir = cluster.masters[standby]!.dataDir;
      const log = join(dir, readdirSync(dir).filter((n) => /^log\.\d{10}$/.test(n)).sort().pop()!);
      const { values, offsets } = decodeRecords(new Uint8Array(readFileSync(log)));
      const cut = values.findIndex((v) => (v as { q: number }).q === keep + 1);
      expect(cut).toBeGreaterThan(0);
      truncateSync(log, offsets[cut]!);
      await cluster.restartMaster(standby);
      await waitFor("the restarted standby to catch up", async () => (await applied(standby)) === end, 30_000);
      const only = (i: number) => ({ GFS_MASTER: cluster.masters[i]!.addr });
      const a = await runGfs(["ls", "/many", "--json"], { env: only(lead) });
      const b = await runGfs(["ls", "/many", "--json"], { env: only(standby) });
      expect(b.stdout).toBe(a.stdout);
      expect(JSON.parse(a.stdout)).toHaveLength(320);
    } finally {
      await cluster.stop();
    }
  }, 120_000);

  test("while the leader is down, ls, stat and cat are served by a standby; a write waits for the new leader", async () => {
    const cluster = await new HaCluster({ masterArgs: ["--election-ttl", "8s"] }).start();
    try {
      const lead = await cluster.leader();
      const data = randomBytes(1_500_000, 3);
      await cluster.gfs(["put", "-", "/kept"], { stdin: data });
      cluster.masters[lead]!.proc.kill("SIGKILL");
      // Within the election TTL nobody leads: reads are served by standbys.
      const t0 = Date.now();
      expect((await cluster.gfs(["ls", "/"])).stdout).toContain("kept");
      expect(JSON.parse((await cluster.gfs(["stat", "/kept", "--json"])).stdout).size).toBe(data.byteLength);
      expect(Buffer.compare((await cluster.gfs(["cat", "/kept"])).stdoutBytes, data)).toBe(0);
      const readsMs = Date.now() - t0;
      expect(readsMs).toBeLessThan(8_000);
      // A write waits for the new leader within its deadline.
      const w = await cluster.gfs(["mkdir", "/during", "--deadline", "30s"]);
      expect(w.code).toBe(0);
      // With too short a deadline it fails with one clear line.
      const lead2 = await cluster.leader(20_000, lead);
      cluster.masters[lead2]!.proc.kill("SIGKILL");
      const short = await cluster.gfs(["mkdir", "/short", "--deadline", "1s"], { check: false });
      expect(short.code).toBe(1);
      expect(short.stderr.trim().split("\n").length).toBe(1);
      expect(short.stderr).toMatch(/^gfs: .*(leader|standby|unreachable)/);
    } finally {
      await cluster.stop();
    }
  }, 120_000);

  test("etcd down: changes are refused with a clear error and nothing is lost; reads go on; service resumes when etcd returns", async () => {
    const cluster = await new HaCluster().start();
    try {
      await cluster.gfs(["mkdir", "/a"]);
      await cluster.gfs(["put", "-", "/f"], { stdin: "hello\n" });
      cluster.etcd.proc.kill("SIGKILL");
      await cluster.etcd.proc.exited;
      const refused = await cluster.gfs(["mkdir", "/during", "--deadline", "3s"], { check: false });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^gfs: /);
      // Reads go on.
      await waitFor("ls while etcd is down", async () => (await cluster.gfs(["ls", "/", "--deadline", "5s"], { check: false })).code === 0, 20_000);
      expect((await cluster.gfs(["cat", "/f"])).stdout).toBe("hello\n");
      await cluster.etcd.restart();
      await cluster.leader(30_000);
      await cluster.gfs(["mkdir", "/after", "--deadline", "30s"]);
      const names = JSON.parse((await cluster.gfs(["ls", "/", "--json"])).stdout).map((e: { name: string }) => e.name);
      expect(names).toContain("a");
      expect(names).toContain("after");
      expect(names).toContain("f");
      expect(names).not.toContain("during");
    } finally {
      await cluster.stop();
    }
  }, 120_000);

  test("a master started while etcd is down waits for it, saying so once, then joins as a standby", async () => {
    const cluster = await new HaCluster().start();
    try {
      await cluster.gfs(["mkdir", "/before"]);
      const lead = await cluster.leader();
      const standby = (lead + 1) % cluster.masters.length;
      cluster.masters[standby]!.proc.kill("SIGKILL");
      await cluster.masters[standby]!.proc.exited;
      cluster.etcd.proc.kill("SIGKILL");
      await cluster.etcd.proc.exited;
      const restarted = cluster.spawnMaster(standby);
      await waitFor("the restarted master to say it waits for etcd", () => restarted.log.some((l) => /waiting before serving/.test(l)), 20_000, 50);
      await cluster.etcd.restart();
      const m = await restarted.ready;
      expect(m.proc.exitCode).toBeNull();
      expect(m.log.filter((l) => /etcd is unreachable.*waiting before serving/.test(l))).toHaveLength(1);
      await waitFor("the restarted master to follow as a standby", async () => (await cluster.roleOf(standby))?.role === "standby", 30_000, 100);
      await cluster.leader(30_000);
      await cluster.gfs(["mkdir", "/after", "--deadline", "30s"]);
      await waitFor("the standby to have applied /after", async () => {
        const r = await runGfs(["ls", "/", "--json", "--deadline", "2s"], { env: { GFS_MASTER: m.addr }, check: false });
        return r.code === 0 && JSON.parse(r.stdout).some((e: { name: string }) => e.name === "after");
      }, 30_000, 100);
    } finally {
      await cluster.stop();
    }
  }, 120_000);
});
