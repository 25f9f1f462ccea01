// The seeded chaos run (R6): a cluster of real processes on loopback, a
// workload of real `gfs` commands, and faults injected on a schedule drawn
// from one seed. What a user would see is recorded, then checked:
//   - every acknowledged put reads back identical, and no cat exits 0 with other bytes;
//   - every acknowledged record is in its file exactly once, each writer's in order,
//     and no record appears that nobody wrote;
//   - no acknowledged namespace change is lost;
//   - every operation ends (success or a clear error) within a bound;
//   - no daemon dies by itself, and daemon memory stays under a bound.
// Nemeses: SIGKILL and restart of chunk servers and of the master, SIGSTOP and
// SIGCONT, a faulty TCP proxy in front of each chunk server (delay, stall,
// cut, flipped bytes), flipped bits and truncations in chunk files (only of
// chunks that still have all their replicas: damaging every copy would lose
// data by design), a full disk
// (one chunk server's data directory is a tmpfs, filled up for a while; needs
// root), and a torn record at the end of the master's log.
import { existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, closeSync, truncateSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GFS, TestCluster, randomBytes, rssOf, waitFor } from "../helpers/cluster";
import { decodeRecords } from "../../core/master/records";
import { Prng } from "./prng";

export interface ChaosOptions {
  seed: number;
  durationMs: number;
  /** One line per event (faults, failures); silent when absent. */
  log?: (line: string) => void;
  /** High availability: three masters on a real etcd; the master nemeses hit the leader (failover). */
  ha?: boolean;
}

export interface ChaosReport {
  seed: number;
  durationMs: number;
  faults: Record<string, number>;
  ops: Record<string, { ok: number; failed: number }>;
  verified: { records: number; files: number; bytes: number; directories: number };
  /** After each master restart: ms until the next change was acknowledged. */
  recoveryMs: number[];
  maxRssBytes: number;
  violations: string[];
  /** Where every daemon's log was kept (a run with violations); removed otherwise. */
  logsDir?: string;
}

/** An operation taking longer than this did not end. */
const OP_BOUND_MS = 120_000;
/** A daemon above this resident size is a violation. */
const RSS_BOUND_BYTES = 768 * 1024 * 1024;
const MiB = 1024 * 1024;
/** The chunk server whose data directory is a tmpfs of this size, when run as root. */
const TMPFS_SERVER = 4;
const TMPFS_MIB = 1024;

interface Proc {
  code: number;
  stdout: Uint8Array;
  stderr: string;
  ms: number;
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const say = opts.log ?? (() => {});
  const rng = new Prng(opts.seed);
  const root = process.getuid?.() === 0;
  if (!root) say("not root: no tmpfs, so no full-disk faults in this run");
  const report: ChaosReport = {
    seed: opts.seed, durationMs: opts.durationMs, faults: {}, ops: {}, verified: { records: 0, files: 0, bytes: 0, directories: 0 },
    recoveryMs: [], maxRssBytes: 0, violations: [],
  };
  const violation = (what: string) => {
    if (report.violations.length < 50) report.violations.push(what);
    say(`VIOLATION: ${what}`);
  };
  /** Counts an operation's outcome; a failure's last lines go to the run's log (why it ended with an error). */
  const count = (op: string, p: Proc) => {
    const c = (report.ops[op] ??= { ok: 0, failed: 0 });
    if (p.code === 0) c.ok++;
    else {
      c.failed++;
      say(`${op} failed: ${p.stderr.trim().split("\n").slice(-2).join(" | ")}`);
    }
  };
  const fault = (kind: string, detail: string) => {
    report.faults[kind] = (report.faults[kind] ?? 0) + 1;
    say(`fault ${kind}: ${detail}`);
  };

  // Every daemon's log goes to a file, kept when the run finds a violation so that it can be traced.
  const logsDir = mkdtempSync(join(tmpdir(), `gfs-chaos-logs-${opts.seed}-`));
  const logsBefore = process.env.GFS_TEST_LOG_DIR;
  process.env.GFS_TEST_LOG_DIR = logsDir;
  const cluster = new TestCluster({
    chunkservers: 5, replication: 3, chunkSize: "1MiB", proxies: true,
    masterArgs: ["--heartbeat", "300ms", "--dead-after", "2s", "--lease", "5s"],
    chunkserverArgs: () => ["--buffer", "64MiB"],
    tmpfsMiB: (i) => (root && i === TMPFS_SERVER ? TMPFS_MIB : undefined),
    env: { GFS_LOG_LEVEL: "3" },
    ...(opts.ha ? { haMasters: 3 } : {}),
  });
  await cluster.start();
  const t0 = Date.now();
  const stopAt = t0 + opts.durationMs;
  /** Processes this run stopped or killed on purpose (their exit is not a crash). */
  const expected = new Set<number>();
  const down = new Set<number>(); // chunk servers killed, waiting to restart
  const paused = new Set<number>();
  let masterDown = false;
  let masterRestartedAt = 0;
  const damaged = new Set<number>(); // chunk handles with one replica damaged on purpose

  /** Runs `gfs ...` against the cluster, checking that it ends within the bound. */
  const gfs = async (args: string[], stdin?: Uint8Array): Promise<Proc> => {
    const started = Date.now();
    const proc = Bun.spawn([GFS, ...args, "--deadline", "30s"], {
      stdin: stdin ?? "ignore", stdout: "pipe", stderr: "pipe",
      env: { ...process.env, GFS_MASTER: cluster.masterAddr, GFS_LOG_LEVEL: "1" },
    });
    const timer = setTimeout(() => {
      violation(`gfs ${args.join(" ")} did not end within ${OP_BOUND_MS / 1000} s`);
      proc.kill("SIGKILL");
    }, OP_BOUND_MS);
    const [out, err, code] = await Promise.all([new Response(proc.stdout).arrayBuffer(), new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(timer);
    return { code, stdout: new Uint8Array(out), stderr: err, ms: Date.now() - started };
  };
  const acknowledgedChange = () => {
    if (masterRestartedAt) {
      report.recoveryMs.push(Date.now() - masterRestartedAt);
      masterRestartedAt = 0;
    }
  };

  // ---- the workload ----
  const files = new Map<string, Uint8Array>(); // acknowledged puts
  const written = new Map<string, { lines: string[]; acked: boolean; file: string }>(); // per append process
  const dirs = new Map<string, "present" | "absent" | "unknown">();
  let seq = 0;

  const putLoop = async (r: Prng) => {
    while (Date.now() < stopAt) {
      const path = `/chaos/files/f${seq++}`;
      const data = randomBytes(r.int(64 * 1024, 3 * MiB), r.int(1, 2 ** 30));
      const p = await gfs(["put", "-", path, "-p"], data);
      count("put", p);
      if (p.code === 0) {
        files.set(path, data);
        acknowledgedChange();
      }
    }
  };

  const catLoop = async (r: Prng) => {
    while (Date.now() < stopAt) {
      const names = [...files.keys()];
      if (names.length === 0) {
        await Bun.sleep(200);
        continue;
      }
      const path = r.pick(names);
      const p = await gfs(["cat", path]);
      count("cat", p);
      if (p.code === 0 && Buffer.compare(p.stdout, files.get(path)!) !== 0) {
        violation(`cat ${path} exited 0 with ${p.stdout.byteLength} bytes that differ from the ${files.get(path)!.byteLength} acknowledged`);
      }
    }
  };

  const appendLoop = async (r: Prng, writer: number) => {
    while (Date.now() < stopAt) {
      const file = `/chaos/log${writer % 2}`;
      const id = `w${writer}p${seq++}`;
      const lines = Array.from({ length: r.int(20, 150) }, (_, i) => `${id}-${String(i).padStart(4, "0")}-${"x".repeat(r.int(0, 400))}`);
      const entry = { lines, acked: false, file };
      written.set(id, entry);
      const p = await gfs(["append", file, "--lines"], new TextEncoder().encode(lines.join("\n") + "\n"));
      count("append", p);
      if (p.code === 0) {
        entry.acked = true;
        acknowledgedChange();
      }
    }
  };

  const recordsLoop = async (r: Prng) => {
    while (Date.now() < stopAt) {
      await Bun.sleep(r.int(1000, 4000));
      const file = `/chaos/log${r.int(0, 1)}`;
      const p = await gfs(["cat", "--records", file]);
      count("cat --records", p);
      if (p.code === 0) checkRecords(file, new TextDecoder().decode(p.stdout), false);
    }
  };

  const namespaceLoop = async (r: Prng) => {
    while (Date.now() < stopAt) {
      const known = [...dirs.entries()].filter(([, s]) => s === "present").map(([n]) => n);
      const choice = known.length < 3 ? 0 : r.int(0, 2);
      let name: string;
      let args: string[];
      let after: [string, "present" | "absent"][];
      if (choice === 0) {
        name = `d${seq++}`;
        args = ["mkdir", `/chaos/dirs/${name}`, "-p"];
        after = [[name, "present"]];
      } else if (choice === 1) {
        name = r.pick(known);
        const to = `m${seq++}`;
        args = ["mv", `/chaos/dirs/${name}`, `/chaos/dirs/${to}`];
        after = [[name, "absent"], [to, "present"]];
      } else {
        name = r.pick(known);
        args = ["rm", `/chaos/dirs/${name}`];
        after = [[name, "absent"]];
      }
      const p = await gfs(args);
      count(args[0]!, p);
      for (const [n, state] of after) dirs.set(n, p.code === 0 ? state : "unknown");
      if (p.code === 0) acknowledgedChange();
    }
  };

  /** The records of a log: never one nobody wrote, never twice, each writer's in order; at the end, every acknowledged one. */
  const checkRecords = (file: string, text: string, final: boolean) => {
    const lines = text.split("\n");
    if (lines.pop() !== "") violation(`cat --records ${file}: output does not end with a newline`);
    const seen = new Set<string>();
    const position = new Map<string, number>();
    for (const line of lines) {
      if (seen.has(line)) {
        violation(`cat --records ${file}: a record appears twice: ${line.slice(0, 40)}`);
        continue;
      }
      seen.add(line);
      const id = line.slice(0, line.indexOf("-"));
      const entry = written.get(id);
      const at = entry ? entry.lines.indexOf(line) : -1;
      if (!entry || entry.file !== file || at < 0) {
        violation(`cat --records ${file}: a record nobody wrote: ${line.slice(0, 60)}`);
        continue;
      }
      if ((position.get(id) ?? -1) > at) violation(`cat --records ${file}: ${id}'s records out of order`);
      position.set(id, at);
    }
    if (!final) return;
    for (const [id, e] of written) {
      if (e.file !== file || !e.acked) continue;
      const missing = e.lines.filter((l) => !seen.has(l)).length;
      if (missing > 0) violation(`${file}: ${missing} of ${id}'s ${e.lines.length} acknowledged records are missing`);
    }
    report.verified.records += lines.length;
  };

  // ---- the nemeses ----
  const csIndexes = () => cluster.chunkservers.map((_, i) => i);
  const healthy = () => csIndexes().filter((i) => !down.has(i) && !paused.has(i));

  const restartChunkserver = async (i: number) => {
    cluster.chunkservers[i] = await cluster.startChunkserver(i, 0);
    down.delete(i);
  };

  /** The master the master nemeses hit: the one master, or (HA) the leader when one is known. */
  let masterIndex = 0;
  const restartMaster = async () => {
    const d = await cluster.restartMaster(masterIndex);
    if (!opts.ha) cluster.master = d;
    masterDown = false;
    masterRestartedAt = Date.now();
  };
  const pickMaster = async (r: Prng): Promise<number> => {
    if (!opts.ha) return 0;
    const fallback = r.int(0, cluster.masters.length - 1);
    for (let i = 0; i < cluster.masters.length; i++) {
      const p = Bun.spawnSync([GFS, "cluster", "--json", "--deadline", "2s"], { env: { ...process.env, GFS_MASTER: cluster.masters[i]!.addr, GFS_LOG_LEVEL: "1" }, timeout: 10_000 });
      try {
        if (JSON.parse(p.stdout.toString()).masters?.[0]?.role === "leader") return i;
      } catch {}
    }
    return fallback;
  };

  /** Flips a byte of, or truncates, one replica of a put file's chunk that still has all its replicas. */
  const damageReplica = async (r: Prng, kind: "disk-flip" | "disk-truncate") => {
    const names = [...files.keys()];
    if (names.length === 0) return;
    const path = r.pick(names);
    const st = await gfs(["stat", path, "--json"]);
    if (st.code !== 0) return;
    const chunks = (JSON.parse(new TextDecoder().decode(st.stdout)).chunks as { handle: string; replicas: { server: string }[] }[])
      .map((c) => ({ ...c, handle: parseInt(c.handle, 16) }))
      .filter((c) => c.replicas.length >= 3 && !damaged.has(c.handle));
    if (chunks.length === 0) return;
    const c = r.pick(chunks);
    const i = cluster.chunkservers.findIndex((d) => d.addr === c.replicas[0]!.server);
    if (i < 0 || down.has(i)) return;
    const file = join(cluster.chunkservers[i]!.dataDir, "chunks", `${c.handle.toString(16).padStart(16, "0")}.chunk`);
    if (!existsSync(file)) return;
    const size = statSync(file).size;
    if (size === 0) return;
    damaged.add(c.handle);
    if (kind === "disk-flip") {
      const bytes = readFileSync(file);
      const at = r.int(0, size - 1);
      const fd = openSync(file, "r+");
      writeSync(fd, new Uint8Array([bytes[at]! ^ (1 << r.int(0, 7))]), 0, 1, at);
      closeSync(fd);
    } else truncateSync(file, Math.floor(r.int(0, size - 1) / 65536) * 65536);
    fault(kind, `chunk ${c.handle} on cs${i} (${path})`);
  };

  /** A torn record at the end of the master's log: a header promising more bytes than follow. */
  const tearLogTail = () => {
    const dir = (opts.ha ? cluster.masters[masterIndex]! : cluster.master).dataDir;
    const logs = readdirSync(dir).filter((n) => /^log\.\d{10}$/.test(n)).sort();
    const last = logs[logs.length - 1];
    if (!last) return;
    const path = join(dir, last);
    // Right after the last intact record: a crash can only tear a write that was never acknowledged.
    const end = decodeRecords(new Uint8Array(readFileSync(path))).validBytes;
    const fd = openSync(path, "r+");
    writeSync(fd, new Uint8Array([0, 0, 0, 200, 1, 2, 3, 4, 5, 6, 7]), 0, 11, end);
    closeSync(fd);
    fault("torn-log-tail", `${last} at byte ${end}`);
  };

  /** Fills the tmpfs server's disk to the last byte for a while, then frees it. */
  let diskFull = false;
  const fillDisk = (r: Prng) => {
    const d = cluster.chunkservers[TMPFS_SERVER]!;
    const filler = join(d.dataDir, "filler");
    const fd = openSync(filler, "w");
    const block = new Uint8Array(MiB);
    let bytes = 0;
    try {
      for (;;) bytes += writeSync(fd, block);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
    } finally {
      closeSync(fd);
    }
    // Small writes may still fit in the last partial block: take that too.
    const small = openSync(filler, "a");
    try {
      for (;;) bytes += writeSync(small, new Uint8Array(512));
    } catch {
    } finally {
      closeSync(small);
    }
    diskFull = true;
    fault("disk-full", `cs${TMPFS_SERVER} (${Math.round(bytes / MiB)} MiB filler)`);
    void Bun.sleep(r.int(2_000, 8_000)).then(() => {
      unlinkSync(filler);
      diskFull = false;
    });
  };

  const nemesisLoop = async (r: Prng) => {
    while (Date.now() < stopAt - 3_000) {
      await Bun.sleep(r.int(1_500, 4_000));
      if (Date.now() >= stopAt - 3_000) break;
      const kinds = ["kill-cs", "kill-cs", "pause-cs", "kill-master", "proxy-delay", "proxy-stall", "proxy-cut", "proxy-flip", "disk-flip", "disk-truncate", "disk-full"] as const;
      // HA: the leader is also killed twice as often, and paused past its election lease.
      const kind = opts.ha ? r.pick([...kinds, "kill-master", "pause-master"] as const) : r.pick(kinds);
      const i = r.pick(csIndexes());
      const proxy = cluster.proxies[i]!;
      switch (kind) {
        case "kill-cs": {
          if (down.has(i) || paused.has(i) || healthy().length <= 3) break;
          const d = cluster.chunkservers[i]!;
          expected.add(d.proc.pid);
          down.add(i);
          d.proc.kill("SIGKILL");
          fault(kind, `cs${i}`);
          const wait = r.int(1_000, 4_000);
          void Bun.sleep(wait).then(() => restartChunkserver(i)).catch((e) => violation(`cs${i} did not restart: ${(e as Error).message}`));
          break;
        }
        case "pause-cs": {
          if (down.has(i) || paused.has(i) || healthy().length <= 3) break;
          const d = cluster.chunkservers[i]!;
          paused.add(i);
          d.proc.kill("SIGSTOP");
          fault(kind, `cs${i}`);
          void Bun.sleep(r.int(1_000, 5_000)).then(() => {
            d.proc.kill("SIGCONT");
            paused.delete(i);
          });
          break;
        }
        case "kill-master": {
          if (masterDown) break;
          masterDown = true;
          masterIndex = await pickMaster(r);
          const m = opts.ha ? cluster.masters[masterIndex]! : cluster.master;
          expected.add(m.proc.pid);
          m.proc.kill("SIGKILL");
          await m.proc.exited;
          fault(kind, m.name);
          if (r.chance(0.4)) tearLogTail();
          void Bun.sleep(r.int(500, 3_000)).then(restartMaster).catch((e) => violation(`the master did not restart: ${(e as Error).message}`));
          break;
        }
        case "pause-master": {
          if (masterDown) break;
          masterDown = true;
          const m = cluster.masters[await pickMaster(r)]!;
          m.proc.kill("SIGSTOP");
          fault(kind, m.name);
          void Bun.sleep(r.int(1_000, 6_000)).then(() => {
            m.proc.kill("SIGCONT");
            masterDown = false;
          });
          break;
        }
        case "proxy-delay":
        case "proxy-stall":
        case "proxy-flip": {
          if (proxy.fault.kind !== "pass") break;
          proxy.setFault(kind === "proxy-delay" ? { kind: "delay", ms: r.int(20, 200) } : kind === "proxy-stall" ? { kind: "stall" } : { kind: "flip", p: 0.05 });
          fault(kind, `cs${i}`);
          void Bun.sleep(r.int(1_000, 5_000)).then(() => proxy.setFault({ kind: "pass" }));
          break;
        }
        case "proxy-cut":
          proxy.cut();
          fault(kind, `cs${i}`);
          break;
        case "disk-flip":
        case "disk-truncate":
          await damageReplica(r, kind);
          break;
        case "disk-full":
          if (root && !diskFull) fillDisk(r);
          break;
      }
    }
  };

  /** Daemons that die by themselves, and daemon memory. */
  const watchLoop = async () => {
    while (Date.now() < stopAt) {
      await Bun.sleep(500);
      for (const d of [...(opts.ha ? cluster.masters : [cluster.master]), ...cluster.chunkservers]) {
        if (d.proc.exitCode !== null && !expected.has(d.proc.pid)) {
          expected.add(d.proc.pid);
          violation(`${d.name} (pid ${d.proc.pid}) exited by itself with ${d.proc.exitCode}: ${d.log.slice(-3).join(" | ")}`);
        }
        const rss = rssOf(d.proc.pid);
        if (rss !== null) {
          report.maxRssBytes = Math.max(report.maxRssBytes, rss);
          if (rss > RSS_BOUND_BYTES) violation(`${d.name} grew to ${Math.round(rss / MiB)} MiB`);
        }
      }
    }
  };

  try {
    await Promise.all([
      nemesisLoop(rng.fork()),
      watchLoop(),
      putLoop(rng.fork()),
      catLoop(rng.fork()),
      appendLoop(rng.fork(), 0),
      appendLoop(rng.fork(), 1),
      appendLoop(rng.fork(), 2),
      recordsLoop(rng.fork()),
      namespaceLoop(rng.fork()),
    ]);

    // ---- heal, then check what was acknowledged ----
    say("healing: every fault undone, every daemon back");
    for (const p of cluster.proxies) p.setFault({ kind: "pass" });
    for (const i of [...paused]) cluster.chunkservers[i]!.proc.kill("SIGCONT");
    await waitFor("the last faults to run out", () => !masterDown && down.size === 0 && !diskFull, 30_000, 100);
    await cluster.waitForServers(5, 60_000);
    for (const [path, data] of files) {
      const p = await gfs(["cat", path]);
      if (p.code !== 0) violation(`acknowledged put ${path} cannot be read: ${p.stderr.trim()}`);
      else if (Buffer.compare(p.stdout, data) !== 0) violation(`acknowledged put ${path} reads back different bytes`);
      else {
        report.verified.files++;
        report.verified.bytes += data.byteLength;
      }
    }
    for (const file of ["/chaos/log0", "/chaos/log1"]) {
      if (![...written.values()].some((e) => e.file === file)) continue;
      const p = await gfs(["cat", "--records", file]);
      if (p.code !== 0) violation(`cat --records ${file} fails after healing: ${p.stderr.trim()}`);
      else checkRecords(file, new TextDecoder().decode(p.stdout), true);
    }
    const ls = await gfs(["ls", "/chaos/dirs", "--json"]);
    const present = new Set(ls.code === 0 ? (JSON.parse(new TextDecoder().decode(ls.stdout)) as { name: string }[]).map((e) => e.name) : []);
    if (ls.code !== 0 && [...dirs.values()].includes("present")) violation(`ls /chaos/dirs fails after healing: ${ls.stderr.trim()}`);
    for (const [name, state] of dirs) {
      if (state === "present" && !present.has(name)) violation(`acknowledged directory /chaos/dirs/${name} is gone`);
      if (state === "absent" && present.has(name)) violation(`/chaos/dirs/${name}, acknowledged as moved or removed, is still there`);
      if (state !== "unknown") report.verified.directories++;
    }
  } finally {
    await cluster.stop();
    if (logsBefore === undefined) delete process.env.GFS_TEST_LOG_DIR;
    else process.env.GFS_TEST_LOG_DIR = logsBefore;
    if (report.violations.length > 0) report.logsDir = logsDir;
    else rmSync(logsDir, { recursive: true, force: true });
  }
  return report;
}

/** The report as a few lines for people. */
export function formatReport(r: ChaosReport): string {
  const faults = Object.entries(r.faults).map(([k, n]) => `${k} ${n}`).join(", ");
  const ops = Object.entries(r.ops).map(([k, c]) => `${k} ${c.ok} ok / ${c.failed} failed`).join(", ");
  const rec = [...r.recoveryMs].sort((a, b) => a - b);
  const median = rec.length ? rec[Math.floor(rec.length / 2)] : undefined;
  return [
    `seed ${r.seed}, ${Math.round(r.durationMs / 1000)} s`,
    `faults injected: ${faults || "none"}`,
    `operations: ${ops}`,
    `verified after healing: ${r.verified.files} files (${(r.verified.bytes / MiB).toFixed(1)} MiB), ${r.verified.records} records, ${r.verified.directories} directories`,
    `first acknowledged change after a master restart: ${median !== undefined ? `median ${median} ms, max ${rec[rec.length - 1]} ms over ${rec.length} restarts` : "no restart"}`,
    `largest daemon: ${Math.round(r.maxRssBytes / MiB)} MiB`,
    r.violations.length ? `VIOLATIONS (${r.violations.length}):\n  ${r.violations.join("\n  ")}` : "violations: none",
    ...(r.logsDir ? [`daemon logs kept in ${r.logsDir}`] : []),
  ].join("\n");
}
