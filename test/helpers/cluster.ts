// Real processes for integration tests: the compiled `gfs` binary started on
// 127.0.0.1 with port 0 and temporary directories. Every process started here
// is tracked by PID and killed by `stopAll()`.
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
export { randomBytes } from "./bytes";
import { FaultyProxy } from "../chaos/proxy";
import { EtcdServer } from "./etcd";

export const GFS = resolve(import.meta.dir, "../../dist/gfs");
if (!existsSync(GFS)) throw new Error(`${GFS} is missing: run 'npm run build' (npm test does it)`);

export interface Daemon {
  name: string;
  proc: Subprocess<"ignore", "ignore", "pipe">;
  port: number;
  addr: string;
  dataDir: string;
  log: string[];
  args: string[];
}

const live = new Set<Subprocess>();

/** Tracks a process started outside these helpers (etcd), so `stopAll()` kills it too. */
export function track(proc: Subprocess): void {
  live.add(proc);
  proc.exited.then(() => live.delete(proc));
}

export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 20_000, everyMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}`);
    await Bun.sleep(everyMs);
  }
}

export function tempDir(prefix = "gfs-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Starts `gfs <args>` and resolves once it prints its "listening on" line. */
export async function startDaemon(name: string, args: string[], dataDir: string, env: Record<string, string> = {}): Promise<Daemon> {
  return spawnDaemon(name, args, dataDir, env).ready;
}

/** Starts a daemon; `log` fills as it logs, `ready` resolves once it listens. */
export function spawnDaemon(name: string, args: string[], dataDir: string, env: Record<string, string> = {}): { log: string[]; ready: Promise<Daemon> } {
  const proc = Bun.spawn([GFS, ...args], { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: { ...process.env, GFS_LOG_LEVEL: "4", ...env } });
  live.add(proc);
  proc.exited.then(() => live.delete(proc));
  const log: string[] = [];
  const decoder = new TextDecoder();
  const reader = proc.stderr.getReader();
  let buf = "";
  let port = -1;
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        log.push(line);
        // GFS_TEST_LOG_DIR: every line also goes to NAME.log there (the chaos run keeps them when it finds a violation).
        if (process.env.GFS_TEST_LOG_DIR) appendFileSync(join(process.env.GFS_TEST_LOG_DIR, `${name}.log`), `${(performance.now() / 1000).toFixed(2)} ${line}\n`);
        if (process.env.GFS_TEST_VERBOSE) process.stderr.write(`${(performance.now() / 1000).toFixed(2)} [${name}] ${line}\n`);
        const m = /listening on [^\s]+:(\d+)/.exec(line);
        if (m && port < 0) port = Number(m[1]);
      }
    }
  })();
  void pump;
  const ready = waitFor(`${name} to listen`, () => {
    if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode}: ${log.slice(-5).join(" | ")}`);
    return port >= 0;
  }, 20_000, 10).then(() => ({ name, proc, port, addr: `127.0.0.1:${port}`, dataDir, log, args }));
  return { log, ready };
}

export interface ClusterOptions {
  chunkservers?: number;
  chunkSize?: string;
  replication?: number;
  masterArgs?: string[];
  chunkserverArgs?: (i: number) => string[];
  env?: Record<string, string>;
  /** Put a faulty TCP proxy (test/chaos/proxy.ts) in front of each chunk server; its address is the one advertised. */
  proxies?: boolean;
  /** Chunk server i's data directory is a tmpfs of this many MiB (needs root), so its disk can fill up. */
  tmpfsMiB?: (i: number) => number | undefined;
  /** High availability: this many masters (`--etcd`) beside a real etcd. */
  haMasters?: number;
}

/** Mounts a tmpfs of `mib` MiB at `dir` unless one is there already. */
export function mountTmpfs(dir: string, mib: number): void {
  mkdirSync(dir, { recursive: true });
  if (isMountPoint(dir)) return;
  if (process.getuid?.() !== 0) throw new Error(`a tmpfs data directory needs root (to mount ${dir})`);
  const r = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", `size=${mib}m`, "tmpfs", dir]);
  if (r.exitCode !== 0) throw new Error(`mount tmpfs on ${dir}: ${r.stderr.toString().trim()}`);
}

function isMountPoint(dir: string): boolean {
  return readFileSync("/proc/self/mounts", "utf8").split("\n").some((l) => l.split(" ")[1] === dir);
}

export class TestCluster {
  readonly dir = tempDir();
  master!: Daemon;
  /** Every master (HA); the one master otherwise. */
  masters: Daemon[] = [];
  etcd: EtcdServer | null = null;
  chunkservers: Daemon[] = [];
  /** With `proxies`: the proxy in front of chunk server i. */
  readonly proxies: FaultyProxy[] = [];

  constructor(readonly opts: ClusterOptions = {}) {}

  get masterAddr(): string {
    return this.opts.haMasters ? this.masters.map((m) => m.addr).join(",") : this.master.addr;
  }

  async start(): Promise<this> {
    if (this.opts.haMasters) {
      this.etcd = await new EtcdServer(join(this.dir, "etcd")).start();
      for (let i = 0; i < this.opts.haMasters; i++) await this.startMaster(0, i);
      this.master = this.masters[0]!;
    } else await this.startMaster(0);
    const n = this.opts.chunkservers ?? 3;
    for (let i = 0; i < n; i++) this.chunkservers.push(await this.startChunkserver(i));
    await this.waitForServers(n);
    return this;
  }

  async startMaster(port: number, i = 0): Promise<Daemon> {
    const ha = this.opts.haMasters !== undefined;
    const dataDir = join(this.dir, ha ? `master${i}` : "master");
    const args = [
      "master", "--data", dataDir, "--listen", `127.0.0.1:${port}`,
      "--chunk-size", this.opts.chunkSize ?? "1MiB", "--replication", String(this.opts.replication ?? 3),
      "--heartbeat", "200ms", "--dead-after", "2s", "--lease", "5s",
      ...(ha ? ["--etcd", this.etcd!.url, "--election-ttl", "3s"] : []),
      ...(this.opts.masterArgs ?? []),
    ];
    const d = await startDaemon(ha ? `master${i}` : "master", args, dataDir, this.opts.env);
    if (ha) this.masters[i] = d;
    else this.master = d;
    return d;
  }

  async startChunkserver(i: number, port = 0): Promise<Daemon> {
    const dataDir = join(this.dir, `cs${i}`);
    const tmpfs = this.opts.tmpfsMiB?.(i);
    if (tmpfs !== undefined) mountTmpfs(dataDir, tmpfs);
    const args = ["chunkserver", "--data", dataDir, "--master", this.masterAddr, "--listen", `127.0.0.1:${port}`, ...(this.opts.chunkserverArgs?.(i) ?? [])];
    if (!this.opts.proxies) return startDaemon(`cs${i}`, args, dataDir, this.opts.env);
    this.proxies[i] ??= new FaultyProxy(0, 1000 + i).start();
    const proxy = this.proxies[i]!;
    const d = await startDaemon(`cs${i}`, [...args, "--advertise", `127.0.0.1:${proxy.port}`], dataDir, this.opts.env);
    proxy.targetPort = d.port;
    // Clients and peers reach it through its proxy.
    return { ...d, addr: `127.0.0.1:${proxy.port}` };
  }

  /** Waits until the master sees `n` live chunk servers. */
  async waitForServers(n: number, timeoutMs = 20_000): Promise<void> {
    await waitFor(`${n} live chunk servers`, async () => {
      const r = await this.gfs(["cluster", "--json"], { check: false });
      if (r.code !== 0) return false;
      return JSON.parse(r.stdout).chunkservers.filter((s: { state: string }) => s.state === "up").length === n;
    }, timeoutMs, 50);
  }

  kill(d: Daemon, signal: "SIGKILL" | "SIGTERM" = "SIGKILL"): Promise<number> {
    d.proc.kill(signal);
    return d.proc.exited;
  }

  async restartMaster(i = 0): Promise<Daemon> {
    return this.opts.haMasters ? this.startMaster(this.masters[i]!.port, i) : this.startMaster(this.master.port);
  }

  /** Runs the gfs CLI against this cluster. */
  gfs(args: string[], opts: GfsRunOptions = {}): Promise<GfsResult> {
    return runGfs(args, { ...opts, env: { GFS_MASTER: this.masterAddr, ...this.opts.env, ...opts.env } });
  }

  async stop(): Promise<void> {
    for (const p of this.proxies) p?.stop();
    const procs = [...this.chunkservers, ...(this.opts.haMasters ? this.masters : [this.master])].filter(Boolean).map((d) => d.proc as Subprocess);
    if (this.etcd) procs.push(this.etcd.proc);
    for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
    for (let i = 0; i < this.chunkservers.length; i++) {
      const dir = join(this.dir, `cs${i}`);
      if (this.opts.tmpfsMiB?.(i) !== undefined && isMountPoint(dir)) Bun.spawnSync(["umount", dir]);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface GfsRunOptions {
  stdin?: Uint8Array | string | Blob | ReadableStream | "ignore";
  env?: Record<string, string>;
  check?: boolean;
  timeoutMs?: number;
}

export interface GfsResult {
  code: number;
  stdout: string;
  stdoutBytes: Uint8Array;
  stderr: string;
}

export async function runGfs(args: string[], opts: GfsRunOptions = {}): Promise<GfsResult> {
  const stdin = opts.stdin === undefined || opts.stdin === "ignore" ? "ignore" : typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : opts.stdin;
  const proc = Bun.spawn([GFS, ...args], {
    stdin: stdin as any,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, GFS_LOG_LEVEL: "3", ...opts.env },
  });
  live.add(proc);
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).arrayBuffer(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  live.delete(proc);
  const res = { code, stdout: new TextDecoder().decode(out), stdoutBytes: new Uint8Array(out), stderr: err };
  if (opts.check !== false && code !== 0) throw new Error(`gfs ${args.join(" ")} exited ${code}: ${err.trim()}`);
  return res;
}

/** Kills every process the helpers started and that is still running. */
export async function stopAll(): Promise<void> {
  const procs = [...live];
  for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
  await Promise.all(procs.map((p) => p.exited));
}

export function rssOf(pid: number): number | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, "utf8");
    const m = /VmHWM:\s+(\d+) kB/.exec(s);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}
