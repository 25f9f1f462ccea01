// Never silently wrong (R1, R2): replicas that missed a creation, were cut
// short on disk, or carry a damaged version are never served or adopted.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../../core/client";
import { handleName } from "../../core/handles";
import { ErrorCode } from "../../net/errors";
import { TestCluster, randomBytes, stopAll, waitFor, type Daemon } from "../helpers/cluster";

afterAll(stopAll);

const MiB = 1024 * 1024;

interface StatChunk {
  handle: number;
  version: number;
  size: number;
  replicas: { server: string; id: string }[];
}

async function chunksOf(cluster: TestCluster, path: string): Promise<StatChunk[]> {
  // stat --json spells handles as 16 hex digits
  return JSON.parse((await cluster.gfs(["stat", path, "--json"])).stdout).chunks.map((c: { handle: string }) => ({ ...c, handle: parseInt(c.handle, 16) }));
}

function chunkFile(d: Daemon, handle: number, ext: "chunk" | "meta"): string {
  return join(d.dataDir, "chunks", `${handleName(handle)}.${ext}`);
}

async function restartServer(cluster: TestCluster, i: number): Promise<Daemon> {
  await cluster.kill(cluster.chunkservers[i]!);
  cluster.chunkservers[i] = await cluster.startChunkserver(i, cluster.chunkservers[i]!.port);
  return cluster.chunkservers[i]!;
}

describe("replicas that must never be served", () => {
  test("a chunk server hung while the master created a chunk is never served that chunk when it comes back", async () => {
    const cluster = await new TestCluster({ chunkservers: 4, replication: 3 }).start();
    try {
      const hung = cluster.chunkservers[0]!;
      hung.proc.kill("SIGSTOP");
      const data = randomBytes(8 * MiB + 5, 21);
      await cluster.gfs(["put", "-", "/f"], { stdin: data });
      // Its queued createChunk runs once it resumes; then it registers again.
      hung.proc.kill("SIGCONT");
      await cluster.waitForServers(4);
      await waitFor("the resumed server to register again", () => hung.log.filter((l) => /registered with master/.test(l)).length >= 2, 20_000);
      for (const c of await chunksOf(cluster, "/f")) {
        expect(c.replicas.map((r) => r.server)).not.toContain(hung.addr);
        expect(c.replicas).toHaveLength(3);
      }
      for (let i = 0; i < 3; i++) {
        const out = await cluster.gfs(["cat", "/f"]);
        expect(out.stdoutBytes.byteLength).toBe(data.byteLength);
        expect(Buffer.compare(out.stdoutBytes, data)).toBe(0);
      }
    } finally {
      await cluster.stop();
    }
  }, 120_000);

  test("a replica's data file truncated at a block boundary is detected at restart; cat returns every byte", async () => {
    const cluster = await new TestCluster({ chunkservers: 3, replication: 3, chunkSize: "4MiB" }).start();
    try {
      const data = randomBytes(4 * MiB, 22);
      await cluster.gfs(["put", "-", "/f"], { stdin: data });
      const [chunk] = await chunksOf(cluster, "/f");
      truncateSync(chunkFile(cluster.chunkservers[1]!, chunk!.handle, "chunk"), 196_608);
      const restarted = await restartServer(cluster, 1);
      await cluster.waitForServers(3);
      await waitFor("the damage to be logged", () => restarted.log.some((l) => /damaged on disk \(.*truncated\)/.test(l)));
      for (let i = 0; i < 10; i++) {
        const out = await cluster.gfs(["cat", "/f"]);
        expect(out.stdoutBytes.byteLength).toBe(data.byteLength);
        expect(Buffer.compare(out.stdoutBytes, data)).toBe(0);
      }
      // The damaged copy is never listed; re-replication may put a fresh, whole copy on that server.
      const listed = (await chunksOf(cluster, "/f"))[0]!.replicas.map((r) => r.server).includes(restarted.addr);
      expect(!listed || restarted.log.some((l) => l.includes(`chunk ${handleName(chunk!.handle)} cloned from`))).toBe(true);
    } finally {
      await cluster.stop();
    }
  }, 120_000);

  test("one flipped bit in a replica's stored version: the good replicas are kept, the damaged one is not listed", async () => {
    const cluster = await new TestCluster({ chunkservers: 3, replication: 3 }).start();
    try {
      const data = randomBytes(MiB, 23);
      await cluster.gfs(["put", "-", "/f"], { stdin: data });
      const [chunk] = await chunksOf(cluster, "/f");
      const meta = chunkFile(cluster.chunkservers[0]!, chunk!.handle, "meta");
      const bytes = readFileSync(meta);
      bytes[12] = bytes[12]! ^ 0x10; // version v -> v + 2^28
      writeFileSync(meta, bytes);
      const restarted = await restartServer(cluster, 0);
      await cluster.waitForServers(3);
      await waitFor("the damage to be logged", () => restarted.log.some((l) => /damaged on disk/.test(l)));
      const after = (await chunksOf(cluster, "/f"))[0]!;
      expect(after.version).toBe(chunk!.version);
      expect(after.replicas.map((r) => r.server).sort()).toEqual([cluster.chunkservers[1]!.addr, cluster.chunkservers[2]!.addr].sort());
      for (const d of cluster.chunkservers.slice(1)) expect(existsSync(chunkFile(d, chunk!.handle, "chunk"))).toBe(true);
      expect(Buffer.compare((await cluster.gfs(["cat", "/f"])).stdoutBytes, data)).toBe(0);
    } finally {
      await cluster.stop();
    }
  }, 120_000);
});

describe("end-to-end checksums", () => {
  test("bytes that do not match the CRC32C their client sent never land on any replica", async () => {
    const cluster = await new TestCluster({ chunkservers: 3, replication: 3 }).start();
    const c = connect({ master: cluster.masterAddr });
    try {
      await c.create("/e");
      const grant = await c.lease("/e", 0, false);
      const data = randomBytes(300_000, 25);
      const crc = await c.crc32c(data);
      const damaged = Uint8Array.from(data);
      damaged[123_456] = damaged[123_456]! ^ 1;
      const chain = [grant.primary, ...grant.secondaries];
      const head = await c.pool.get(chain[0]!.addr);
      const pushed = head.call("push", { dataId: "bad", size: damaged.byteLength, chain: chain.slice(1).map((r) => r.addr), crc });
      head.notifyData("pushData", { dataId: "bad" }, damaged);
      await pushed;
      const primary = await c.pool.get(grant.primary.addr);
      const err = await primary.call("write", { handle: grant.handle, version: grant.version, offset: 0, dataId: "bad", size: damaged.byteLength }).then(() => null, (e) => e);
      expect(err?.code).toBe(ErrorCode.NO_DATA);
      expect(err?.message).toMatch(/arrived damaged/);
      for (const r of chain) {
        const rep = await (await c.pool.get(r.addr)).call("read", { handle: grant.handle, version: grant.version, offset: 0, length: 10 });
        expect(rep.chunkBytes).toBe(0);
      }
    } finally {
      c.close();
      await cluster.stop();
    }
  }, 60_000);
});

describe("authority", () => {
  test("a client cannot write a replica directly, forge a lease token, or send the master's commands; the data stays intact", async () => {
    const cluster = await new TestCluster({ chunkservers: 3, replication: 3 }).start();
    try {
      const data = randomBytes(200_000, 24);
      await cluster.gfs(["put", "-", "/f"], { stdin: data });
      const [chunk] = await chunksOf(cluster, "/f");
      const c = connect({ master: cluster.masterAddr });
      try {
        const peer = await c.pool.get(chunk!.replicas[1]!.server);
        const ids = chunk!.replicas.map((r) => r.id);
        const forged = { handle: chunk!.handle, version: chunk!.version, offset: 0, dataId: "", size: 100_000, serial: 2 ** 40, zeros: true };
        // Without any lease it is not even a well-formed mutation.
        const bare = await peer.call("applyWrite", forged as never).then(() => null, (e) => e);
        expect(bare?.code).toBe(ErrorCode.INVALID_ARGUMENT);
        const attempts: Promise<unknown>[] = [
          peer.call("applyWrite", { ...forged, lease: { primary: ids[0]!, secondaries: ids.slice(1), token: new Uint8Array(16).fill(7) } }),
          peer.call("setVersion", { handle: chunk!.handle, version: chunk!.version + 10 }),
          peer.call("createChunk", { handle: chunk!.handle + 1000, version: 1 }),
          peer.call("copyChunk", { from: chunk!.handle, to: chunk!.handle + 1001, version: chunk!.version }),
          peer.call("revokeLease", { handle: chunk!.handle }),
        ];
        for (const a of attempts) {
          const err = await a.then(() => null, (e) => e);
          expect(err?.code).toBe(ErrorCode.AUTH);
        }
      } finally {
        c.close();
      }
      // Every replica still holds the data: read each one directly.
      const c2 = connect({ master: cluster.masterAddr });
      try {
        for (const r of chunk!.replicas) {
          const rep = await (await c2.pool.get(r.server)).call("read", { handle: chunk!.handle, version: chunk!.version, offset: 0, length: data.byteLength });
          expect(Buffer.compare(rep.data, data)).toBe(0);
        }
      } finally {
        c2.close();
      }
      expect(Buffer.compare((await cluster.gfs(["cat", "/f"])).stdoutBytes, data)).toBe(0);
    } finally {
      await cluster.stop();
    }
  }, 60_000);
});
