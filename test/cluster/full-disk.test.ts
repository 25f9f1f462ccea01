// A chunk server whose disk fills up (R3): writes fail over to servers with
// room, every acknowledged byte and record reads back, the full server keeps
// running and serving what it holds, and it takes new chunks again once
// there is room. Its data directory is a small tmpfs, so this needs root
// (CI runs as root).
import { afterAll, expect, test } from "bun:test";
import { closeSync, openSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { TestCluster, randomBytes, stopAll, waitFor } from "../helpers/cluster";

afterAll(stopAll);

const MiB = 1024 * 1024;

/** Writes zeros to `path` until the disk refuses; returns how many bytes landed. */
function fillDisk(path: string): number {
  const fd = openSync(path, "w");
  const block = new Uint8Array(256 * 1024);
  let total = 0;
  try {
    for (;;) total += writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  } finally {
    closeSync(fd);
  }
  return total;
}

interface ServerStatus {
  address: string;
  state: string;
  diskUsed: number;
  diskTotal: number;
  chunks: number;
}

test("a chunk server with a full disk: appends and puts succeed elsewhere, every acknowledged byte reads back, and it heals", async () => {
  const cluster = await new TestCluster({
    chunkservers: 4, replication: 3, chunkSize: "1MiB",
    tmpfsMiB: (i) => (i === 0 ? 24 : undefined),
  }).start();
  try {
    const full = cluster.chunkservers[0]!;
    const filler = join(full.dataDir, "filler");
    const appenders = (from: number, n: number) => Array.from({ length: n }, async (_, k) => {
      const w = from + k;
      const lines = Array.from({ length: 400 }, (_, i) => `w${w}-${String(i).padStart(4, "0")}-${"r".repeat(200 + ((w * 31 + i) % 300))}`);
      const r = await cluster.gfs(["append", "/log", "--lines"], { stdin: lines.join("\n") + "\n", check: false });
      return { lines, code: r.code, stderr: r.stderr };
    });
    const puts = (from: number, n: number) => Array.from({ length: n }, async (_, k) => {
      const data = randomBytes(2 * MiB + 12_345 * k, 700 + from + k);
      const r = await cluster.gfs(["put", "-", `/p${from + k}`], { stdin: data, check: false });
      return { path: `/p${from + k}`, data, code: r.code, stderr: r.stderr };
    });

    // Writes under way when the disk fills: some chunks already have a replica there.
    const first = [...appenders(0, 3), ...puts(0, 2)];
    await waitFor("chunks on the server that will fill", async () => {
      const servers: ServerStatus[] = JSON.parse((await cluster.gfs(["cluster", "--json"])).stdout).chunkservers;
      return servers.find((s) => s.address === full.addr)!.chunks > 0;
    }, 20_000, 20);
    expect(fillDisk(filler)).toBeGreaterThan(0);
    const second = [...appenders(3, 3), ...puts(2, 2)];
    const results = await Promise.all([...first, ...second]);
    for (const r of results) expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    // The full disk did refuse writes under way, and those replicas left.
    expect(full.log.some((l) => /disk write failed \(ENOSPC\)/.test(l))).toBe(true);

    // The master sees the disk as full.
    await waitFor("the master to see the full disk", async () => {
      const servers: ServerStatus[] = JSON.parse((await cluster.gfs(["cluster", "--json"])).stdout).chunkservers;
      const s = servers.find((x) => x.address === full.addr)!;
      return s.state === "up" && s.diskTotal - s.diskUsed < MiB;
    }, 20_000, 50);
    expect(full.proc.exitCode).toBeNull();

    const check = async () => {
      for (const r of results) if ("path" in r) expect(Buffer.compare((await cluster.gfs(["cat", r.path])).stdoutBytes, r.data)).toBe(0);
      const records = (await cluster.gfs(["cat", "--records", "/log"])).stdout.split("\n");
      expect(records.pop()).toBe("");
      const expected = results.flatMap((r) => ("lines" in r ? r.lines : []));
      expect(records.length).toBe(expected.length);
      expect(new Set(records)).toEqual(new Set(expected));
    };
    try {
      await check();
    } catch (err) {
      const { writeFileSync: w } = await import("node:fs");
      w("/work/scratch/fd-master.txt", cluster.master.log.join("\n"));
      cluster.chunkservers.forEach((d, i) => w(`/work/scratch/fd-cs${i}.txt`, d.log.join("\n")));
      w("/work/scratch/fd-records.txt", (await cluster.gfs(["cat", "--records", "/log"])).stdout);
      w("/work/scratch/fd-stat.txt", (await cluster.gfs(["stat", "/log", "--json"])).stdout);
      throw err;
    }
    // With the others gone, what the full server holds is still served.
    await cluster.kill(cluster.chunkservers[3]!);
    await check();
    cluster.chunkservers[3] = await cluster.startChunkserver(3, cluster.chunkservers[3]!.port);
    await cluster.waitForServers(4);

    // Room again: it takes new chunks.
    unlinkSync(filler);
    await waitFor("the master to see room on the server", async () => {
      const servers: ServerStatus[] = JSON.parse((await cluster.gfs(["cluster", "--json"])).stdout).chunkservers;
      const s = servers.find((x) => x.address === full.addr)!;
      return s.diskTotal - s.diskUsed > 8 * MiB;
    }, 20_000, 50);
    const before = JSON.parse((await cluster.gfs(["cluster", "--json"])).stdout).chunkservers.find((s: ServerStatus) => s.address === full.addr).chunks;
    const more = await Promise.all(puts(10, 3));
    for (const r of more) expect(r.code).toBe(0);
    await waitFor("new chunks on the server", async () => {
      const servers: ServerStatus[] = JSON.parse((await cluster.gfs(["cluster", "--json"])).stdout).chunkservers;
      return servers.find((s) => s.address === full.addr)!.chunks > before;
    }, 20_000, 50);
    expect(full.proc.exitCode).toBeNull();
  } finally {
    await cluster.stop();
  }
}, 180_000);
