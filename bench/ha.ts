// HA figures (master high availability on etcd): durable creates per second
// from 8 clients through an HA leader, beside a single master measured in
// the same run; how long a SIGKILL of the leader leaves the cluster without
// acknowledged creates; and how far behind the leader a standby's reads are
// while creates stream in. 1 etcd, 3 masters, 3 chunk servers on loopback.
import { connect, type GfsClient } from "../core/client";
import { TestCluster, runGfs, waitFor } from "../test/helpers/cluster";

export interface HaFigures {
  /** Creates/s from 8 clients: single master, and the HA leader. */
  singleCreates: number;
  haCreates: number;
  /** SIGKILL of the leader to the first create acknowledged through the new one, ms (default --election-ttl 5s). */
  failoverMs: number;
  /** A create acknowledged by the leader until a standby's stat sees it, ms: median and max over the load. */
  readLagMedianMs: number;
  readLagMaxMs: number;
}

const CHUNKSERVER_ARGS = ["--heartbeat", "1s", "--dead-after", "10s", "--lease", "60s"];

async function creates8(clients: GfsClient[], dir: string, n: number): Promise<number> {
  await clients[0]!.mkdir(dir);
  await Promise.all(clients.map((c) => c.cluster()));
  const t = performance.now();
  await Promise.all(clients.map(async (c, w) => {
    for (let i = w; i < n; i += 8) await c.create(`${dir}/f${i}`);
  }));
  return n / ((performance.now() - t) / 1000);
}

async function roleOf(addr: string): Promise<string | undefined> {
  const r = await runGfs(["cluster", "--json", "--deadline", "2s"], { env: { GFS_MASTER: addr }, check: false, timeoutMs: 10_000 });
  return r.code === 0 ? JSON.parse(r.stdout).masters?.[0]?.role : undefined;
}

export async function haFigures(creates: number, log: (s: string) => void): Promise<HaFigures> {
  log(`HA: ${creates} creates from 8 clients, single master`);
  const single = await new TestCluster({ chunkSize: "64MiB", chunkservers: 3, masterArgs: CHUNKSERVER_ARGS }).start();
  let singleCreates: number;
  try {
    const clients = Array.from({ length: 8 }, () => connect({ master: single.masterAddr }));
    singleCreates = await creates8(clients, "/c8", creates);
    for (const c of clients) c.close();
  } finally {
    await single.stop();
  }

  log(`HA: ${creates} creates from 8 clients through the leader of 3 masters on etcd, standby read lag meanwhile`);
  const ha = await new TestCluster({ chunkSize: "64MiB", chunkservers: 3, haMasters: 3, masterArgs: [...CHUNKSERVER_ARGS, "--election-ttl", "5s"] }).start();
  try {
    const leaderIdx = await waitFor("a leader", async () => {
      for (let i = 0; i < 3; i++) if ((await roleOf(ha.masters[i]!.addr)) === "leader") return i + 1;
      return 0;
    }, 30_000, 100) - 1;
    const standby = ha.masters[(leaderIdx + 1) % 3]!;
    const clients = Array.from({ length: 8 }, () => connect({ master: ha.masterAddr }));
    // While the load runs: a probe creates through the leader and times until the standby's stat sees it.
    const writer = connect({ master: ha.masterAddr });
    // Asked directly (a client would follow a standby's redirect to the leader).
    const reader = connect({ master: standby.addr });
    const standbyPeer = await reader.pool.get(standby.addr);
    await writer.mkdir("/lag");
    const lags: number[] = [];
    let loadDone = false;
    const probe = (async () => {
      for (let i = 0; !loadDone; i++) {
        await writer.create(`/lag/p${i}`);
        const t = performance.now();
        for (;;) {
          try {
            await standbyPeer.call("stat", { path: `/lag/p${i}` });
            break;
          } catch {
            await Bun.sleep(2);
          }
        }
        lags.push(performance.now() - t);
        await Bun.sleep(20);
      }
    })();
    const haCreates = await creates8(clients, "/c8", creates);
    loadDone = true;
    await probe;
    writer.close();
    reader.close();
    for (const c of clients) c.close();

    log("HA: SIGKILL of the leader, until the first create acknowledged through the new one");
    const c = connect({ master: ha.masterAddr, deadlineMs: 60_000 });
    await c.mkdir("/failover");
    ha.masters[leaderIdx]!.proc.kill("SIGKILL");
    const killedAt = performance.now();
    await c.create("/failover/first");
    const failoverMs = performance.now() - killedAt;
    c.close();
    lags.sort((a, b) => a - b);
    return { singleCreates, haCreates, failoverMs, readLagMedianMs: lags[Math.floor(lags.length / 2)] ?? NaN, readLagMaxMs: lags[lags.length - 1] ?? NaN };
  } finally {
    await ha.stop();
  }
}
