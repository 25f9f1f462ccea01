// A cluster of real processes: put, cat, stat, failures of servers and master.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TestCluster, randomBytes, stopAll, tempDir, waitFor } from "../helpers/cluster";

const MiB = 1024 * 1024;

describe("a 1 MiB-chunk cluster with three chunk servers", () => {
  const cluster = new TestCluster({ chunkSize: "1MiB", chunkservers: 3 });
  const data = randomBytes(48 * MiB, 7);
  const local = join(tempDir(), "input.bin");

  beforeAll(async () => {
    writeFileSync(local, data);
    await cluster.start();
  });
  afterAll(async () => {
    await cluster.stop();
    await stopAll();
  });

  test("a 48 MiB file put and read back is byte-identical, in 48 chunks of 3 distinct replicas", async () => {
    await cluster.gfs(["put", local, "/data/file.bin", "-p"]);
    const out = await cluster.gfs(["cat", "/data/file.bin"]);
    expect(out.stdoutBytes.byteLength).toBe(data.byteLength);
    expect(Buffer.compare(out.stdoutBytes, data)).toBe(0);

    const st = JSON.parse((await cluster.gfs(["stat", "/data/file.bin", "--json"])).stdout);
    expect(st.size).toBe(48 * MiB);
    expect(st.chunks).toHaveLength(48);
    const handles = new Set<number>();
    for (const c of st.chunks) {
      expect(c.replicas).toHaveLength(3);
      expect(new Set(c.replicas.map((r: { server: string }) => r.server)).size).toBe(3);
      expect(c.size).toBe(MiB);
      expect(typeof c.version).toBe("number");
      handles.add(c.handle);
    }
    expect(handles.size).toBe(48);
  });

  test("cat still returns the right bytes after one chunk server is SIGKILLed", async () => {
    await cluster.kill(cluster.chunkservers[0]!);
    const out = await cluster.gfs(["cat", "/data/file.bin"]);
    expect(Buffer.compare(out.stdoutBytes, data)).toBe(0);
    cluster.chunkservers[0] = await cluster.startChunkserver(0);
    await cluster.waitForServers(3);
  });

  test("after the master is SIGKILLed and restarted on the same port, ls, stat and cat are unchanged", async () => {
    const lsBefore = (await cluster.gfs(["ls", "-l", "/data"])).stdout;
    const statBefore = JSON.parse((await cluster.gfs(["stat", "/data/file.bin", "--json"])).stdout);
    await cluster.kill(cluster.master);
    await cluster.restartMaster();
    await cluster.waitForServers(3);
    // Replica lists are complete again once every server has re-registered.
    await waitFor("all replicas re-registered", async () => {
      const st = JSON.parse((await cluster.gfs(["stat", "/data/file.bin", "--json"])).stdout);
      return st.chunks.every((c: { replicas: unknown[] }) => c.replicas.length === 3);
    });
    expect((await cluster.gfs(["ls", "-l", "/data"])).stdout).toBe(lsBefore);
    const statAfter = JSON.parse((await cluster.gfs(["stat", "/data/file.bin", "--json"])).stdout);
    const key = (s: typeof statBefore) => s.chunks.map((c: any) => [c.handle, c.version, c.size, c.replicas.map((r: any) => r.server).sort()]);
    expect(key(statAfter)).toEqual(key(statBefore));
    expect(statAfter.size).toBe(statBefore.size);
    const out = await cluster.gfs(["cat", "/data/file.bin"]);
    expect(Buffer.compare(out.stdoutBytes, data)).toBe(0);
  });

  test("with one byte flipped in the middle of every chunk file on two of three servers, cat returns the right bytes", async () => {
    let flipped = 0;
    for (const cs of cluster.chunkservers.slice(0, 2)) {
      const dir = join(cs.dataDir, "chunks");
      for (const name of readdirSync(dir).filter((n) => n.endsWith(".chunk"))) {
        const p = join(dir, name);
        const bytes = readFileSync(p);
        if (bytes.length === 0) continue;
        const mid = Math.floor(bytes.length / 2);
        bytes[mid] = bytes[mid]! ^ 0xff;
        writeFileSync(p, bytes);
        flipped++;
      }
    }
    expect(flipped).toBe(96);
    const out = await cluster.gfs(["cat", "/data/file.bin"]);
    expect(Buffer.compare(out.stdoutBytes, data)).toBe(0);
    // Replicas the read hit were reported by their servers and dropped by the
    // master, then replaced from the third server's good replicas.
    const goodServer = cluster.chunkservers[2]!.addr;
    expect(cluster.master.log.some((l) => /replica on .* is damaged \(/.test(l))).toBe(true);
    await waitFor("every chunk whole again", async () => {
      const st = JSON.parse((await cluster.gfs(["stat", "/data/file.bin", "--json"])).stdout);
      return st.chunks.every((c: { replicas: { server: string }[] }) => c.replicas.length === 3 && c.replicas.some((r) => r.server === goodServer));
    }, 60_000, 100);
    expect(Buffer.compare((await cluster.gfs(["cat", "/data/file.bin"])).stdoutBytes, data)).toBe(0);
  });
});
