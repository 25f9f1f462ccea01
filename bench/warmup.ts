// Warm-up: the same work measured in consecutive windows on fresh daemons,
// to tell what compiling hot code costs a new cluster from what the code
// costs once compiled. `npm run bench` measures fresh daemons; daemons in
// service run for days.
//
//   node scripts/bun.mjs bench/warmup.ts [--windows 5] [--creates 4000] [--records 3000]
//
// Prints, per window: one client's durable creates/s with the master's CPU
// per create, then (on a new cluster) one library appender awaiting each 1 KiB
// record, records/s with each chunk server's CPU per record (from /proc).
import { readFileSync } from "node:fs";
import { connect } from "../core/client";
import { TestCluster } from "../test/helpers/cluster";

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const WINDOWS = opt("--windows", 5);
const CREATES = opt("--creates", 4000);
const RECORDS = opt("--records", 3000);

/** CPU time of a process so far, in µs (user and system, from /proc). */
function cpuUs(pid: number): number {
  const st = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * 10_000;
}

/** Runs `work` on a fresh cluster (master, 3 chunk servers, 64 MiB chunks) and stops it. */
async function onFreshCluster(work: (cluster: TestCluster) => Promise<void>): Promise<void> {
  const cluster = await new TestCluster({ chunkSize: "64MiB", chunkservers: 3, replication: 3, masterArgs: ["--heartbeat", "1s", "--dead-after", "10s", "--lease", "60s"] }).start();
  try {
    await work(cluster);
  } finally {
    await cluster.stop();
  }
}

async function windows(pids: number[], each: number, step: (i: number) => Promise<unknown>): Promise<string[]> {
  const out: string[] = [];
  let n = 0;
  for (let w = 0; w < WINDOWS; w++) {
    const before = pids.map(cpuUs);
    const t = performance.now();
    for (let i = 0; i < each; i++) await step(n++);
    const s = (performance.now() - t) / 1000;
    out.push(`${Math.round(each / s).toLocaleString("en")}/s [${pids.map((p, k) => ((cpuUs(p) - before[k]!) / each).toFixed(0)).join(" ")} µs]`);
  }
  return out;
}

await onFreshCluster(async (cluster) => {
  const c = connect({ master: cluster.masterAddr });
  await c.mkdir("/w");
  const figures = await windows([cluster.master.proc.pid], CREATES, (i) => c.create(`/w/f${i}`));
  console.log(`creates, 1 client (master CPU per create): ${figures.join("  ")}`);
  c.close();
});
await onFreshCluster(async (cluster) => {
  const c = connect({ master: cluster.masterAddr });
  await c.ensureFile("/a");
  const a = c.appender("/a");
  const rec = new Uint8Array(1024).fill(97);
  const figures = await windows(cluster.chunkservers.map((d) => d.proc.pid), RECORDS, () => a.append(rec));
  console.log(`1 KiB records, 1 appender awaiting each (chunk servers' CPU per record): ${figures.join("  ")}`);
  c.close();
});
