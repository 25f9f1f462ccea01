// Re-replication (M11): chunks below their target are copied server to server
// until they are whole again, without an operator; damaged replicas are
// replaced; surplus ones dropped.
import { afterAll, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { handleName } from "../../core/handles";
import { TestCluster, randomBytes, stopAll, waitFor, type Daemon } from "../helpers/cluster";

afterAll(stopAll);

const MiB = 1024 * 1024;
const RACKS = ["r1", "r1", "r2", "r2", "r3"];

interface StatChunk {
  handle: number;
  replicas: { server: string; rack: string }[];
}

async function chunksOf(cluster: TestCluster, path: string): Promise<StatChunk[]> {
  // stat --json spells handles as 16 hex digits
  return JSON.parse((await cluster.gfs(["stat", path, "--json"])).stdout).chunks.map((c: { handle: string }) => ({ ...c, handle: parseInt(c.handle, 16) }));
}

function fiveRacks(extra: string[] = []): TestCluster {
  return new TestCluster({
    chunkservers: 5, replication: 3, chunkSize: "1MiB",
    masterArgs: ["--heartbeat", "300ms", "--dead-after", "2s", ...extra],
    chunkserverArgs: (i) => ["--rack", RACKS[i]!],
  });
}

test("two servers SIGKILLed at once: every chunk gets three replicas again, over two racks at least, and the file reads back", async () => {
  const cluster = await fiveRacks().start();
  try {
    const data = randomBytes(30 * MiB + 1234, 80);
    await cluster.gfs(["put", "-", "/f"], { stdin: data });
    const before = await chunksOf(cluster, "/f");
    expect(before).toHaveLength(31);
    for (const c of before) expect(new Set(c.replicas.map((r) => r.rack)).size).toBeGreaterThanOrEqual(2);
    const fresh = await cluster.gfs(["fsck", "--json"]);
    expect(JSON.parse(fresh.stdout)).toMatchObject({ healthy: true, files: 1, chunks: 31, bytes: data.byteLength, underReplicated: 0, missing: 0, problems: [] });

    const killed: Daemon[] = [cluster.chunkservers[0]!, cluster.chunkservers[2]!];
    await Promise.all(killed.map((d) => cluster.kill(d)));
    const gone = new Set(killed.map((d) => d.addr));
    // fsck reports it (exit 1), then finds the cluster healthy again by itself (exit 0).
    const sick = await waitFor("fsck to report under-replication", async () => {
      const r = await cluster.gfs(["fsck", "--json"], { check: false });
      return r.code === 1 ? r : null;
    }, 20_000, 50);
    expect(JSON.parse(sick.stdout).underReplicated).toBeGreaterThan(0);
    const view = JSON.parse((await cluster.gfs(["cluster", "--json"])).stdout);
    expect(view.masters).toEqual([{ address: cluster.masterAddr, role: "single", epoch: 0, lagMs: 0, appliedOp: expect.any(Number) }]);
    for (const s of view.chunkservers) {
      if (gone.has(s.address)) expect(s).toMatchObject({ state: "lost", lostSince: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
      else expect(s).toMatchObject({ state: "up", rack: expect.stringMatching(/^r[123]$/), diskTotal: expect.any(Number), chunks: expect.any(Number) });
    }
    expect((await cluster.gfs(["cluster"])).stdout).toMatch(/LOST since/);
    expect(JSON.parse(sick.stdout).problems[0]).toMatchObject({ path: "/f", problem: expect.stringMatching(/of 3 replicas/) });
    await waitFor("fsck healthy again", async () => (await cluster.gfs(["fsck"], { check: false })).code === 0, 60_000, 200);
    await waitFor("every chunk to have three live replicas again", async () => {
      const chunks = await chunksOf(cluster, "/f");
      return chunks.every((c) => c.replicas.length === 3 && c.replicas.every((r) => !gone.has(r.server)));
    }, 60_000, 200);
    for (const c of await chunksOf(cluster, "/f")) expect(new Set(c.replicas.map((r) => r.rack)).size).toBeGreaterThanOrEqual(2);
    expect(Buffer.compare((await cluster.gfs(["cat", "/f"])).stdoutBytes, data)).toBe(0);
    expect(cluster.master.log.some((l) => /re-replicated from/.test(l))).toBe(true);

    // They come back: their old replicas are surplus and dropped; three replicas per chunk stay.
    for (const i of [0, 2]) cluster.chunkservers[i] = await cluster.startChunkserver(i, cluster.chunkservers[i]!.port);
    await cluster.waitForServers(5);
    await waitFor("surplus replicas to be dropped", async () => (await chunksOf(cluster, "/f")).every((c) => c.replicas.length === 3), 30_000, 200);
    expect(Buffer.compare((await cluster.gfs(["cat", "/f"])).stdoutBytes, data)).toBe(0);
  } finally {
    await cluster.stop();
  }
}, 180_000);

test("a damaged replica found by a reader is replaced from a good one", async () => {
  const cluster = await fiveRacks().start();
  try {
    const data = randomBytes(3 * MiB, 81);
    await cluster.gfs(["put", "-", "/g"], { stdin: data });
    const [c] = await chunksOf(cluster, "/g");
    const holder = cluster.chunkservers.find((d) => d.addr === c!.replicas[0]!.server)!;
    const file = join(holder.dataDir, "chunks", `${handleName(c!.handle)}.chunk`);
    const bytes = readFileSync(file);
    bytes[1000] = bytes[1000]! ^ 0x40;
    writeFileSync(file, bytes);
    // Readers try replicas until one answers: a few reads reach the damaged one.
    await waitFor("the damaged replica to be dropped", async () => {
      expect(Buffer.compare((await cluster.gfs(["cat", "/g"])).stdoutBytes, data)).toBe(0);
      return !(await chunksOf(cluster, "/g"))[0]!.replicas.some((r) => r.server === holder.addr);
    }, 30_000, 50);
    await waitFor("three good replicas again", async () => (await chunksOf(cluster, "/g"))[0]!.replicas.length === 3, 30_000, 100);
    await waitFor("the damaged copy deleted from its disk", async () => holder.log.some((l) => l.includes(`chunk ${handleName(c!.handle)} deleted`)), 30_000, 100);
    expect(Buffer.compare((await cluster.gfs(["cat", "/g"])).stdoutBytes, data)).toBe(0);
  } finally {
    await cluster.stop();
  }
}, 120_000);

test("a byte flipped in an idle chunk: the scrubber notices, the replica is replaced, fsck is healthy again", async () => {
  const cluster = await new TestCluster({
    chunkservers: 4, replication: 3, chunkSize: "1MiB",
    masterArgs: ["--heartbeat", "300ms", "--dead-after", "2s"],
    chunkserverArgs: () => ["--scrub-interval", "1s"],
  }).start();
  try {
    const data = randomBytes(2 * MiB + 10, 82);
    await cluster.gfs(["put", "-", "/idle"], { stdin: data });
    const [c] = await chunksOf(cluster, "/idle");
    const holder = cluster.chunkservers.find((d) => d.addr === c!.replicas[1]!.server)!;
    const file = join(holder.dataDir, "chunks", `${handleName(c!.handle)}.chunk`);
    const bytes = readFileSync(file);
    bytes[700_000] = bytes[700_000]! ^ 0x01;
    writeFileSync(file, bytes);
    // Nobody reads it: only the scrubber can notice.
    await waitFor("the scrubber to report it", () => holder.log.some((l) => l.includes(`chunk ${handleName(c!.handle)} is corrupt`) && l.includes("found by the scrubber")), 20_000, 50);
    // The damaged replica is deleted; the new copy may land anywhere, its old holder included.
    await waitFor("a good replica in its place", async () => {
      const replicas = (await chunksOf(cluster, "/idle"))[0]!.replicas;
      const recopied = holder.log.some((l) => l.includes(`chunk ${handleName(c!.handle)} cloned from`));
      return replicas.length === 3 && (!replicas.some((r) => r.server === holder.addr) || recopied);
    }, 30_000, 100);
    expect(holder.log.some((l) => l.includes(`chunk ${handleName(c!.handle)} deleted`))).toBe(true);
    await waitFor("fsck healthy", async () => (await cluster.gfs(["fsck"], { check: false })).code === 0, 30_000, 100);
    expect(Buffer.compare((await cluster.gfs(["cat", "/idle"])).stdoutBytes, data)).toBe(0);
  } finally {
    await cluster.stop();
  }
}, 120_000);

test("the good replicas come back after the only live one turned out damaged: they are adopted, not deleted as stale, and the file reads back", async () => {
  const cluster = await new TestCluster({ chunkservers: 4, replication: 3, chunkSize: "1MiB", masterArgs: ["--heartbeat", "300ms", "--dead-after", "2s"] }).start();
  try {
    const data = randomBytes(900 * 1024, 89);
    await cluster.gfs(["put", "-", "/last"], { stdin: data });
    const [c] = await chunksOf(cluster, "/last");
    const holders = c!.replicas.map((r) => cluster.chunkservers.findIndex((d) => d.addr === r.server));
    const [a, b, damaged] = holders as [number, number, number];
    // The one that stays up is damaged on disk (nobody reads it until the repair copy does).
    const file = join(cluster.chunkservers[damaged]!.dataDir, "chunks", `${handleName(c!.handle)}.chunk`);
    const bytes = readFileSync(file);
    bytes[700_000] = bytes[700_000]! ^ 0x01;
    writeFileSync(file, bytes);
    await cluster.kill(cluster.chunkservers[a]!);
    await cluster.kill(cluster.chunkservers[b]!);
    // The master raises the version on the live replica to copy it, and the copy finds it damaged.
    await waitFor("the last live replica found damaged", () => cluster.master.log.some((l) => l.includes(`chunk ${handleName(c!.handle)}: replica on`) && l.includes("no other replica is live")), 30_000, 50);
    for (const i of [a, b]) cluster.chunkservers[i] = await cluster.startChunkserver(i, cluster.chunkservers[i]!.port);
    // Their replicas are a version behind but hold every acknowledged byte: one is adopted, then copied.
    await waitFor("the chunk readable again", async () => (await cluster.gfs(["cat", "/last", "--deadline", "1s"], { check: false })).code === 0, 30_000, 200);
    expect(Buffer.compare((await cluster.gfs(["cat", "/last"])).stdoutBytes, data)).toBe(0);
    expect(cluster.master.log.some((l) => l.includes(`chunk ${handleName(c!.handle)}: 0 live current replicas; adopted the one on`))).toBe(true);
    // The adoption is sent while the server reads its registration's answer: it waits for that, not refuses.
    expect(cluster.master.log.filter((l) => /adopting the replica .* failed/.test(l))).toEqual([]);
    await waitFor("fsck healthy", async () => (await cluster.gfs(["fsck"], { check: false })).code === 0, 30_000, 200);
  } finally {
    await cluster.stop();
  }
}, 120_000);

test("a chunk server SIGKILLed while receiving a copy deletes the part it got when it restarts, and the copy is made again", async () => {
  const cluster = await new TestCluster({ chunkservers: 4, replication: 3, chunkSize: "1MiB", masterArgs: ["--heartbeat", "300ms", "--dead-after", "2s", "--clone-rate", "256KiB"] }).start();
  try {
    const data = randomBytes(1024 * 1024, 90);
    await cluster.gfs(["put", "-", "/copied"], { stdin: data });
    const [c] = await chunksOf(cluster, "/copied");
    const holders = new Set(c!.replicas.map((r) => r.server));
    const dest = cluster.chunkservers.findIndex((d) => !holders.has(d.addr));
    const victim = cluster.chunkservers.findIndex((d) => holders.has(d.addr));
    await cluster.kill(cluster.chunkservers[victim]!);
    // The copy to the one server left takes about 4 s at 256 KiB/s: stop it half-way.
    const partial = join(cluster.chunkservers[dest]!.dataDir, "chunks", `${handleName(c!.handle)}.partial`);
    await waitFor("the copy under way", () => existsSync(partial), 20_000, 20);
    await Bun.sleep(500); // part of the chunk is on disk
    await cluster.kill(cluster.chunkservers[dest]!);
    cluster.chunkservers[dest] = await cluster.startChunkserver(dest, cluster.chunkservers[dest]!.port);
    await waitFor("the unfinished copy deleted at the start", () => cluster.chunkservers[dest]!.log.some((l) => l.includes("1 unfinished copies deleted")), 10_000, 20);
    await waitFor("three whole replicas again", async () => (await chunksOf(cluster, "/copied"))[0]!.replicas.length === 3, 30_000, 100);
    for (const r of (await chunksOf(cluster, "/copied"))[0]!.replicas) {
      const d = cluster.chunkservers.find((x) => x.addr === r.server)!;
      expect(statSync(join(d.dataDir, "chunks", `${handleName(c!.handle)}.chunk`)).size).toBe(data.byteLength);
    }
    expect(Buffer.compare((await cluster.gfs(["cat", "/copied"])).stdoutBytes, data)).toBe(0);
  } finally {
    await cluster.stop();
  }
}, 120_000);

test("setrep: a directory's target applies to files put below it; raising a file's brings copies, lowering drops them; it survives a master restart", async () => {
  const cluster = await new TestCluster({ chunkservers: 4, replication: 3, chunkSize: "1MiB", masterArgs: ["--heartbeat", "300ms", "--dead-after", "2s"] }).start();
  try {
    await cluster.gfs(["mkdir", "/tmp"]);
    expect((await cluster.gfs(["setrep", "1", "/tmp"])).stdout).toBe("/tmp: replication 1 (0 files)\n");
    const data = randomBytes(3 * MiB + 5, 83);
    await cluster.gfs(["put", "-", "/tmp/f"], { stdin: data });
    const counts = async (p: string) => (await chunksOf(cluster, p)).map((c) => c.replicas.length);
    expect(await counts("/tmp/f")).toEqual([1, 1, 1, 1]);
    expect(JSON.parse((await cluster.gfs(["fsck", "/tmp", "--json"])).stdout).healthy).toBe(true);

    await cluster.gfs(["setrep", "3", "/tmp/f"]);
    await waitFor("three replicas of every chunk", async () => (await counts("/tmp/f")).every((n) => n === 3), 30_000, 100);
    expect(Buffer.compare((await cluster.gfs(["cat", "/tmp/f"])).stdoutBytes, data)).toBe(0);

    // Lowering the directory's target lowers every file below it.
    expect((await cluster.gfs(["setrep", "2", "/tmp"])).stdout).toBe("/tmp: replication 2 (1 file)\n");
    await waitFor("surplus replicas dropped", async () => (await counts("/tmp/f")).every((n) => n === 2), 30_000, 100);
    expect(Buffer.compare((await cluster.gfs(["cat", "/tmp/f"])).stdoutBytes, data)).toBe(0);
    expect((await cluster.gfs(["fsck", "--json"])).code).toBe(0);

    await cluster.kill(cluster.master);
    await cluster.restartMaster();
    await cluster.waitForServers(4);
    await cluster.gfs(["put", "-", "/tmp/g"], { stdin: randomBytes(MiB, 84) });
    expect(await counts("/tmp/g")).toEqual([2]);
    expect((await cluster.gfs(["setrep", "0", "/tmp"], { check: false })).code).toBe(2);
  } finally {
    await cluster.stop();
  }
}, 120_000);

test("gfs drain: a server's chunks get three replicas elsewhere while it serves; then it can be stopped and fsck stays healthy", async () => {
  const cluster = await fiveRacks().start();
  try {
    const data = randomBytes(10 * MiB + 3, 85);
    await cluster.gfs(["put", "-", "/d"], { stdin: data });
    const leaving = cluster.chunkservers[1]!;
    const held = (await chunksOf(cluster, "/d")).filter((c) => c.replicas.some((r) => r.server === leaving.addr)).length;
    expect(held).toBeGreaterThan(0);
    const first = await cluster.gfs(["drain", leaving.addr]);
    expect(first.stdout).toMatch(new RegExp(`^${leaving.addr}: (draining; \\d+ chunks still need it|drained; no chunk needs it, it can be stopped)\\n$`));
    const view = JSON.parse((await cluster.gfs(["cluster", "--json"])).stdout);
    expect(view.chunkservers.find((s: { address: string }) => s.address === leaving.addr).state).toBe("draining");
    const waited = await cluster.gfs(["drain", leaving.addr, "--wait"], { timeoutMs: 60_000 });
    expect(waited.stdout.trim().split("\n").at(-1)).toBe(`${leaving.addr}: drained; no chunk needs it, it can be stopped`);
    for (const c of await chunksOf(cluster, "/d")) expect(c.replicas.filter((r) => r.server !== leaving.addr).length).toBeGreaterThanOrEqual(3);
    // New chunks avoid it.
    await cluster.gfs(["put", "-", "/e"], { stdin: randomBytes(3 * MiB, 86) });
    for (const c of await chunksOf(cluster, "/e")) expect(c.replicas.map((r) => r.server)).not.toContain(leaving.addr);
    await cluster.kill(leaving);
    await waitFor("the master to see it gone", async () => JSON.parse((await cluster.gfs(["cluster", "--json"])).stdout).chunkservers.some((s: { state: string }) => s.state === "lost"), 20_000, 100);
    const fsck = await cluster.gfs(["fsck", "--json"], { check: false });
    expect(JSON.parse(fsck.stdout)).toMatchObject({ healthy: true, underReplicated: 0, missing: 0 });
    expect(Buffer.compare((await cluster.gfs(["cat", "/d"])).stdoutBytes, data)).toBe(0);
  } finally {
    await cluster.stop();
  }
}, 120_000);

test("gfs rebalance: a dry run moves nothing; then a new empty server gets a fair share, every chunk keeps three replicas, fsck stays healthy", async () => {
  const cluster = await new TestCluster({
    chunkservers: 4, replication: 3, chunkSize: "1MiB",
    masterArgs: ["--heartbeat", "300ms", "--dead-after", "2s", "--rebalance-rate", "16MiB"],
    chunkserverArgs: () => ["--capacity", "48MiB"],
  }).start();
  try {
    const data = randomBytes(36 * MiB, 87);
    await cluster.gfs(["put", "-", "/r"], { stdin: data });
    cluster.chunkservers.push(await cluster.startChunkserver(4));
    await cluster.waitForServers(5);
    const fresh = cluster.chunkservers[4]!;
    await waitFor("the master to know every server's disk", async () => JSON.parse((await cluster.gfs(["cluster", "--json"])).stdout).chunkservers.every((s: { diskTotal: number }) => s.diskTotal > 0), 10_000, 50);
    // Chunks under a live lease (the put's, for a few seconds) are not moved.
    const dry = await waitFor("a plan", async () => {
      const r = await cluster.gfs(["rebalance", "--threshold", "10", "--dry-run"]);
      return /would move \d+ replicas/.test(r.stdout) ? r : null;
    }, 20_000, 200);
    expect(dry.stdout).toContain(`-> ${fresh.addr}`);
    expect((await chunksOf(cluster, "/r")).some((c) => c.replicas.some((r) => r.server === fresh.addr))).toBe(false); // a dry run moves nothing
    const run = await cluster.gfs(["rebalance", "--threshold", "10", "--wait"], { timeoutMs: 90_000 });
    expect(run.stdout).toMatch(/done: largest distance from the average \d+\.\d points/);
    const distance = Number(/done: largest distance from the average (\d+\.\d)/.exec(run.stdout)![1]);
    expect(distance).toBeLessThanOrEqual(10);
    const chunks = await chunksOf(cluster, "/r");
    const onFresh = chunks.filter((c) => c.replicas.some((r) => r.server === fresh.addr)).length;
    expect(onFresh).toBeGreaterThanOrEqual(15); // 108 replicas over 5 servers: a fair share is about 21
    for (const c of chunks) expect(c.replicas).toHaveLength(3);
    expect(JSON.parse((await cluster.gfs(["fsck", "--json"], { check: false })).stdout)).toMatchObject({ healthy: true });
    expect(Buffer.compare((await cluster.gfs(["cat", "/r"])).stdoutBytes, data)).toBe(0);
  } finally {
    await cluster.stop();
  }
}, 150_000);

test("a put asking for more replicas than there are servers is stored with what there is, says so, and is healed when servers join", async () => {
  const cluster = await new TestCluster({ chunkservers: 3, replication: 3, chunkSize: "1MiB", masterArgs: ["--heartbeat", "300ms", "--dead-after", "2s"] }).start();
  try {
    const data = randomBytes(2 * MiB + 1, 88);
    const r = await cluster.gfs(["put", "-", "/five", "--replication", "5"], { stdin: data });
    expect(r.stderr).toBe("gfs: warning: the file being put asks for 5 replicas; 3 chunk servers hold its chunks for now (copies are added when more servers can take them)\n");
    expect((await chunksOf(cluster, "/five")).map((c) => c.replicas.length)).toEqual([3, 3, 3]);
    for (const i of [3, 4]) cluster.chunkservers.push(await cluster.startChunkserver(i));
    await waitFor("five replicas of every chunk", async () => (await chunksOf(cluster, "/five")).every((c) => c.replicas.length === 5), 30_000, 100);
    expect(Buffer.compare((await cluster.gfs(["cat", "/five"])).stdoutBytes, data)).toBe(0);
  } finally {
    await cluster.stop();
  }
}, 60_000);
