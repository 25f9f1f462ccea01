// HA masters (`gfs master --etcd`)
// with chunk servers, on loopback, for the high-availability tests. Every
// process is tracked by PID and killed by stop().
import { join } from "node:path";
import type { Subprocess } from "bun";
import { type Daemon, type GfsResult, type GfsRunOptions, runGfs, spawnDaemon, startDaemon, tempDir, waitFor } from "./cluster";
import { EtcdServer } from "./etcd";

export interface HaClusterOptions {
  masters?: number;
  chunkservers?: number;
  masterArgs?: string[];
}

export class HaCluster {
  readonly dir = tempDir("gfs-ha-");
  etcd!: EtcdServer;
  masters: Daemon[] = [];
  chunkservers: Daemon[] = [];

  constructor(readonly opts: HaClusterOptions = {}) {}

  masterArgs(i: number, port: number): string[] {
    return [
      "master", "--data", join(this.dir, `master${i}`), "--listen", `127.0.0.1:${port}`, "--etcd", this.etcd.url,
      "--chunk-size", "1MiB", "--replication", "3", "--heartbeat", "200ms", "--dead-after", "2s", "--lease", "5s",
      "--election-ttl", "3s", ...(this.opts.masterArgs ?? []),
    ];
  }

  get masterList(): string {
    return this.masters.map((m) => m.addr).join(",");
  }

  async start(): Promise<this> {
    this.etcd = await new EtcdServer(join(this.dir, "etcd")).start();
    const n = this.opts.masters ?? 3;
    for (let i = 0; i < n; i++) this.masters.push(await startDaemon(`master${i}`, this.masterArgs(i, 0), join(this.dir, `master${i}`)));
    await this.leader();
    for (let i = 0; i < (this.opts.chunkservers ?? 4); i++) {
      const dataDir = join(this.dir, `cs${i}`);
      this.chunkservers.push(await startDaemon(`cs${i}`, ["chunkserver", "--data", dataDir, "--master", this.masterList, "--listen", "127.0.0.1:0"], dataDir));
    }
    await waitFor("every chunk server registered with the leader", async () => {
      const r = await this.gfs(["cluster", "--json"], { check: false });
      return r.code === 0 && JSON.parse(r.stdout).chunkservers.filter((s: { state: string }) => s.state === "up").length === this.chunkservers.length;
    });
    return this;
  }

  /** What master `i` says of itself (gfs cluster --json against it alone). */
  async roleOf(i: number): Promise<{ role: string; epoch: number; lagMs: number; leader?: string; appliedOp?: number } | null> {
    const m = this.masters[i]!;
    if (m.proc.exitCode !== null) return null;
    const r = await runGfs(["cluster", "--json", "--deadline", "2s"], { env: { GFS_MASTER: m.addr }, check: false, timeoutMs: 10_000 });
    if (r.code !== 0) return null;
    return JSON.parse(r.stdout).masters?.[0] ?? null;
  }

  /** Waits until one running master leads; returns its index. */
  async leader(timeoutMs = 20_000, except?: number): Promise<number> {
    return waitFor("a leading master", async () => {
      for (let i = 0; i < this.masters.length; i++) {
        if (i === except) continue;
        const r = await this.roleOf(i);
        if (r?.role === "leader") return i + 1;
      }
      return 0;
    }, timeoutMs, 100).then((i) => i - 1);
  }

  async restartMaster(i: number): Promise<Daemon> {
    return this.spawnMaster(i).ready;
  }

  /** Starts master `i` again on its port and data; `log` fills at once, `ready` once it listens. */
  spawnMaster(i: number): { log: string[]; ready: Promise<Daemon> } {
    const m = this.masters[i]!;
    const started = spawnDaemon(`master${i}`, this.masterArgs(i, m.port), m.dataDir);
    return { log: started.log, ready: started.ready.then((d) => (this.masters[i] = d)) };
  }

  gfs(args: string[], opts: GfsRunOptions = {}): Promise<GfsResult> {
    return runGfs(args, { ...opts, env: { GFS_MASTER: this.masterList, ...opts.env } });
  }

  async stop(): Promise<void> {
    const procs = [...this.chunkservers, ...this.masters].map((d) => d.proc as Subprocess).concat(this.etcd ? [this.etcd.proc] : []);
    for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
  }
}
