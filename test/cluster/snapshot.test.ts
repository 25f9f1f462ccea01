// Snapshots: instant copies with copy-on-write chunks.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "../../core/client";
import { TestCluster, stopAll, waitFor } from "../helpers/cluster";

afterAll(stopAll);

describe("snapshot", () => {
  const cluster = new TestCluster({ chunkSize: "1MiB", chunkservers: 3, replication: 3 });
  beforeAll(async () => {
    await cluster.start();
  });
  afterAll(async () => {
    await cluster.stop();
  });

  test("a snapshot keeps the first 100 records while the source goes on; the shared chunk is copied on its servers", async () => {
    const c = connect({ master: cluster.masterAddr });
    try {
      await c.ensureFile("/src/log");
      const a = c.appender("/src/log");
      const line = (i: number) => new TextEncoder().encode(`record ${i} ${"x".repeat(i * 37 % 900)}`);
      for (let i = 0; i < 100; i++) await a.append(line(i));
      const before = JSON.parse((await cluster.gfs(["stat", "/src/log", "--json"])).stdout);
      const snap = await cluster.gfs(["snapshot", "/src", "/snap", "--json"]);
      expect(JSON.parse(snap.stdout)).toMatchObject({ files: 1, chunks: before.chunks.length, revokedLeases: 1 });
      await Promise.all(Array.from({ length: 100 }, (_, k) => a.append(line(100 + k))));

      const snapLines = (await cluster.gfs(["cat", "--records", "/snap/log"])).stdout.trim().split("\n");
      const srcLines = (await cluster.gfs(["cat", "--records", "/src/log"])).stdout.trim().split("\n");
      expect(snapLines).toEqual(Array.from({ length: 100 }, (_, i) => new TextDecoder().decode(line(i))));
      expect(srcLines).toEqual(Array.from({ length: 200 }, (_, i) => new TextDecoder().decode(line(i))));

      const src = JSON.parse((await cluster.gfs(["stat", "/src/log", "--json"])).stdout);
      const snapStat = JSON.parse((await cluster.gfs(["stat", "/snap/log", "--json"])).stdout);
      const shared = before.chunks.at(-1);
      expect(snapStat.chunks.at(-1).handle).toBe(shared.handle);
      const copy = src.chunks[before.chunks.length - 1];
      expect(copy.handle).not.toBe(shared.handle);
      // Every server that held the shared chunk made the copy itself.
      const holders = shared.replicas.map((r: { server: string }) => r.server).sort();
      expect(copy.replicas.map((r: { server: string }) => r.server).sort()).toEqual(holders);
      const hex = (h: number) => h.toString(16).padStart(16, "0");
      for (const d of cluster.chunkservers.filter((d) => holders.includes(d.addr))) {
        expect(d.log.some((l) => l.includes(`chunk ${hex(shared.handle)} copied to ${hex(copy.handle)} here`))).toBe(true);
      }
      // Removing the snapshot (and then its copy in the trash) drops its
      // references; the source is untouched, and the shared chunk, now
      // referred to by no file, is reclaimed.
      await cluster.gfs(["rm", "-r", "/snap"]);
      const trashed = JSON.parse((await cluster.gfs(["ls", "-a", "/.trash", "--json"])).stdout)[0].path;
      await cluster.gfs(["rm", "-r", trashed]);
      expect((await cluster.gfs(["cat", "--records", "/src/log"])).stdout.trim().split("\n")).toHaveLength(200);
      for (const d of cluster.chunkservers.filter((d) => holders.includes(d.addr))) {
        await waitFor(`chunk ${hex(shared.handle)} deleted on ${d.addr}`, () => d.log.some((l) => l.includes(`chunk ${hex(shared.handle)} deleted`)), 30_000);
      }
      expect(cluster.chunkservers.some((d) => d.log.some((l) => l.includes(`chunk ${hex(copy.handle)} deleted`)))).toBe(false);
    } finally {
      c.close();
    }
  });

  test("a snapshot of a directory while files are being put into it holds each new file wholly or not at all", async () => {
    const c = connect({ master: cluster.masterAddr });
    try {
      await c.mkdir("/busy");
      const body = (i: number) => new Uint8Array(150_000 + i * 1000).fill(i);
      let stop = false;
      const writers = Array.from({ length: 4 }, async (_, w) => {
        const done: number[] = [];
        for (let i = w; !stop; i += 4) {
          await c.put(`/busy/f${i}`, (async function* () {
            yield body(i);
          })());
          done.push(i);
        }
        return done;
      });
      await Bun.sleep(200);
      await cluster.gfs(["snapshot", "/busy", "/busy-snap"]);
      stop = true;
      await Promise.all(writers);
      const names = (await c.ls("/busy-snap")).entries.map((e) => e.name);
      expect(names.length).toBeGreaterThan(0);
      for (const name of names) {
        const i = Number(name.slice(1));
        const parts: Uint8Array[] = [];
        for await (const p of c.read(`/busy-snap/${name}`)) parts.push(p);
        expect(Buffer.compare(Buffer.concat(parts), body(i))).toBe(0);
      }
    } finally {
      c.close();
    }
  });

  test("snapshot refuses an existing destination and a destination inside the source", async () => {
    await cluster.gfs(["mkdir", "-p", "/s1/inner"]);
    const exists = await cluster.gfs(["snapshot", "/s1", "/s1/inner"], { check: false });
    expect(exists.code).toBe(1);
    expect(exists.stderr).toMatch(/already exists/);
    const inside = await cluster.gfs(["snapshot", "/s1", "/s1/inner/x"], { check: false });
    expect(inside.code).toBe(2);
    expect(inside.stderr).toMatch(/into itself/);
  });
});
