// Self-healing figures (issue: re-replication and rebalancing): how fast full
// replication comes back after a server dies, beside the configured clone
// budget; a client's put throughput while that runs, against an idle
// cluster; and how fast rebalancing fills a new empty server, beside its
// budget. Real processes on loopback, like the rest of the bench.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../core/client";
import { TestCluster, tempDir, waitFor } from "../test/helpers/cluster";

const MiB = 1024 * 1024;

export interface RepairFigures {
  /** MB/s of replicas re-created after one of four servers died, and the budget allowed. */
  repairMBps: number;
  repairBudgetMBps: number;
  repairedMiB: number;
  /** A client's put MB/s while re-replication runs, and on the idle cluster. */
  putDuringRepairMBps: number;
  putIdleMBps: number;
  /** MB/s a new empty server was filled at by rebalancing, and the budget allowed. */
  fillMBps: number;
  fillBudgetMBps: number;
  filledMiB: number;
}

const CLONE_RATE_MIB = 64;
const PER_SERVER = 2;
const REBALANCE_RATE_MIB = 32;

async function put(cluster: TestCluster, local: string, path: string, bytes: number): Promise<number> {
  const t = performance.now();
  await cluster.gfs(["put", local, path, "-p"], { timeoutMs: 900_000 });
  return bytes / 1e6 / ((performance.now() - t) / 1000);
}

async function servers(cluster: TestCluster): Promise<{ address: string; state: string; chunks: number; diskTotal: number }[]> {
  return JSON.parse((await cluster.gfs(["cluster", "--json"])).stdout).chunkservers;
}

export async function repairFigures(sizeMiB: number, log: (s: string) => void): Promise<RepairFigures> {
  const cluster = await new TestCluster({
    chunkSize: "64MiB", chunkservers: 4, replication: 3,
    masterArgs: ["--heartbeat", "500ms", "--dead-after", "3s", "--lease", "5s", "--clones", "16", "--clones-per-server", String(PER_SERVER), "--clone-rate", `${CLONE_RATE_MIB}MiB`, "--rebalance-rate", `${REBALANCE_RATE_MIB}MiB`],
    chunkserverArgs: () => ["--capacity", `${Math.ceil((sizeMiB * 3) / 2)}MiB`],
    env: { GFS_LOG_LEVEL: "3" },
  }).start();
  const dir = tempDir("gfs-bench-repair-");
  try {
    const local = join(dir, "input.bin");
    const side = join(dir, "side.bin");
    const writeRandom = async (path: string, mib: number) => {
      const w = Bun.file(path).writer();
      const block = new Uint8Array(MiB);
      for (let i = 0; i < mib; i++) {
        for (let o = 0; o < MiB; o += 65536) crypto.getRandomValues(block.subarray(o, o + 65536));
        w.write(block);
      }
      await w.end();
    };
    await writeRandom(local, sizeMiB);
    const sideMiB = Math.max(64, Math.floor(sizeMiB / 4));
    await writeRandom(side, sideMiB);
    log(`repair: put ${sizeMiB} MiB on 4 servers, idle put of ${sideMiB} MiB`);
    await put(cluster, local, "/repair/data", sizeMiB * MiB);
    // Each phase starts with no dirty pages left by the one before: the 1 GiB put's would slow the idle put, and both the repair.
    Bun.spawnSync(["sync"]);
    const putIdleMBps = await put(cluster, side, "/repair/idle", sideMiB * MiB);
    await cluster.gfs(["rm", "/repair/idle"]);
    Bun.spawnSync(["sync"]);

    // One server dies: its replicas are re-created on the other three.
    const victim = cluster.chunkservers[3]!;
    const held = (await servers(cluster)).find((s) => s.address === victim.addr)!.chunks;
    log(`repair: SIGKILL of a server holding ${held} chunks`);
    await cluster.kill(victim);
    // Polled in-process: a `gfs fsck` process every 100 ms would take a good part of a core from what is measured.
    const auditor = connect({ master: cluster.masterAddr });
    const healthy = async () => (await auditor.fsck()).healthy;
    await waitFor("the master to notice", async () => !(await healthy()), 30_000, 50);
    const t0 = performance.now();
    const during = put(cluster, side, "/repair/during", sideMiB * MiB);
    await waitFor("full replication", healthy, 600_000, 100);
    const repairSec = (performance.now() - t0) / 1000;
    auditor.close();
    const putDuringRepairMBps = await during;
    const repairedMiB = held * 64;
    // Three servers left, each in at most PER_SERVER copies (as source or destination): 3 * 2 / 2 at once.
    const concurrent = Math.floor((3 * PER_SERVER) / 2);

    // A new empty server: rebalancing fills it.
    cluster.chunkservers[3] = await cluster.startChunkserver(4);
    await cluster.waitForServers(4);
    const fresh = cluster.chunkservers[3]!.addr;
    await waitFor("its disk reported", async () => (await servers(cluster)).some((s) => s.address === fresh && s.diskTotal > 0), 10_000, 50);
    log("rebalance: filling a new empty server");
    const t1 = performance.now();
    await cluster.gfs(["rebalance", "--threshold", "10", "--wait"], { timeoutMs: 900_000 });
    const fillSec = (performance.now() - t1) / 1000;
    const filled = (await servers(cluster)).find((s) => s.address === cluster.chunkservers[3]!.addr)!.chunks;
    return {
      repairMBps: (repairedMiB * MiB) / 1e6 / repairSec,
      repairBudgetMBps: (concurrent * CLONE_RATE_MIB * MiB) / 1e6,
      repairedMiB,
      putDuringRepairMBps,
      putIdleMBps,
      fillMBps: (filled * 64 * MiB) / 1e6 / fillSec,
      // The new server takes at most PER_SERVER moves at once.
      fillBudgetMBps: (PER_SERVER * REBALANCE_RATE_MIB * MiB) / 1e6,
      filledMiB: filled * 64,
    };
  } finally {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const size = Number(process.argv[2] ?? 1024);
  const f = await repairFigures(size, (s) => console.error(s));
  console.log(JSON.stringify(f, null, 2));
}
