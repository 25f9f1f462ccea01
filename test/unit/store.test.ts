import { beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { BLOCK_BYTES, crc32c, initChecksums } from "../../core/checksums";
import { ChunkStore, handleName } from "../../core/chunkserver/store";
import { mountTmpfs, tempDir } from "../helpers/cluster";
import { randomBytes } from "../helpers/bytes";

beforeAll(initChecksums);
const CHUNK = 1024 * 1024;

function fresh(): { dir: string; store: ChunkStore } {
  const dir = tempDir("gfs-store-");
  return { dir, store: new ChunkStore(dir, CHUNK) };
}

describe("chunk store", () => {
  test("appends of odd sizes read back exactly, and survive a reopen with their version", async () => {
    const { dir, store } = fresh();
    store.create(7, 1);
    const data = randomBytes(300_000, 2);
    let at = 0;
    for (const n of [1, 100, 65_535, 1, 70_000, 50_000]) {
      await store.write(7, at, data.subarray(at, at + n));
      at += n;
    }
    await store.write(7, at, data.subarray(at));
    expect(Buffer.compare(await store.read(7, 0, CHUNK), data)).toBe(0);
    expect(Buffer.compare(await store.read(7, 65_530, 10), data.subarray(65_530, 65_540))).toBe(0);
    store.setVersion(7, 5);
    store.closeAll();
    const again = new ChunkStore(dir, CHUNK);
    expect(again.load()).toEqual({ loaded: 1, damaged: [], unfinished: [] });
    expect(again.get(7)!.version).toBe(5);
    expect(Buffer.compare(await again.read(7, 0, CHUNK), data)).toBe(0);
  });

  test("an append that fails on a full disk is undone: the bytes before it stay readable, the replica takes no more writes", async () => {
    const dir = tempDir("gfs-store-full-");
    mountTmpfs(dir, 1);
    try {
      const store = new ChunkStore(dir, CHUNK);
      store.create(5, 2);
      const before = randomBytes(100_000, 11);
      await store.write(5, 0, before);
      // Fill what is left of the disk.
      try {
        writeFileSync(join(dir, "filler"), new Uint8Array(2 * 1024 * 1024));
      } catch {}
      const err = await store.write(5, 100_000, randomBytes(300_000, 12)).then(() => null, (e) => e);
      expect(err?.code).toBe("DISK");
      expect(store.get(5)).toMatchObject({ sizeBytes: 100_000, corrupt: false, writeFailed: true });
      expect(Buffer.compare(await store.read(5, 0, CHUNK), before)).toBe(0);
      expect((await store.write(5, 100_000, new Uint8Array(1)).then(() => null, (e) => e))?.code).toBe("DISK");
      store.closeAll();
      const again = new ChunkStore(dir, CHUNK);
      expect(again.load()).toEqual({ loaded: 1, damaged: [], unfinished: [] });
      expect(Buffer.compare(await again.read(5, 0, CHUNK), before)).toBe(0);
    } finally {
      Bun.spawnSync(["umount", dir]);
    }
  });

  test("a copy still being made when the server stops is deleted at the next start; a completed one stays", async () => {
    const { dir, store } = fresh();
    const data = randomBytes(200_000, 9);
    store.create(1, 4, true);
    await store.write(1, 0, data.subarray(0, 100_000)); // killed half-way
    store.create(2, 4, true);
    await store.write(2, 0, data);
    await store.completed(2);
    store.closeAll();
    const again = new ChunkStore(dir, CHUNK);
    expect(again.load()).toEqual({ loaded: 1, damaged: [], unfinished: [1] });
    expect(again.has(1)).toBe(false);
    expect(Buffer.compare(await again.read(2, 0, CHUNK), data)).toBe(0);
    expect(new ChunkStore(dir, CHUNK).load()).toEqual({ loaded: 1, damaged: [], unfinished: [] });
  });

  test("a replica created after a listing is told apart from the one the listing named (a deletion answering it spares the new one)", async () => {
    const { dir, store } = fresh();
    store.create(3, 1);
    store.closeAll();
    const again = new ChunkStore(dir, CHUNK);
    again.load();
    const listedAt = again.birthCount; // a heartbeat lists chunk 3 at version 1 now
    expect(again.hasBornBy(3, listedAt)).toBe(true);
    again.delete(3); // replaced by a clone at a newer version while the heartbeat travels
    again.create(3, 2);
    expect(again.hasBornBy(3, listedAt)).toBe(false);
    expect(again.hasBornBy(3, again.birthCount)).toBe(true);
    expect(again.hasBornBy(4, again.birthCount)).toBe(false);
  });

  test("an overwrite inside existing data keeps every block verifiable", async () => {
    const { store } = fresh();
    store.create(1, 1);
    const data = randomBytes(3 * BLOCK_BYTES, 3);
    await store.write(1, 0, data);
    const patch = randomBytes(BLOCK_BYTES, 4);
    await store.write(1, BLOCK_BYTES - 100, patch);
    data.set(patch, BLOCK_BYTES - 100);
    expect(Buffer.compare(await store.read(1, 0, CHUNK), data)).toBe(0);
  });

  test("a write past the end fills the hole with zeros", async () => {
    const { store } = fresh();
    store.create(2, 1);
    await store.write(2, 10, new Uint8Array([9, 9]));
    expect([...await store.read(2, 0, 100)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9]);
  });

  test("a flipped byte on disk is a checksum error, never wrong data", async () => {
    const { dir, store } = fresh();
    store.create(3, 1);
    const data = randomBytes(200_000, 5);
    await store.write(3, 0, data);
    const path = join(dir, "chunks", `${handleName(3)}.chunk`);
    const bytes = readFileSync(path);
    bytes[150_000] = bytes[150_000]! ^ 1;
    writeFileSync(path, bytes);
    // Blocks before the damage still read; the damaged block does not.
    expect(Buffer.compare(await store.read(3, 0, 1000), data.subarray(0, 1000))).toBe(0);
    await expect(store.read(3, 140_000, 20_000)).rejects.toThrow(/checksum mismatch in chunk 0000000000000003 block 2/);
    await expect(store.read(3, 0, 10)).rejects.toThrow(/corrupt/); // the replica is now marked corrupt
  });

  test("an overwrite verifies the old block first", async () => {
    const { dir, store } = fresh();
    store.create(4, 1);
    await store.write(4, 0, randomBytes(100_000, 6));
    const path = join(dir, "chunks", `${handleName(4)}.chunk`);
    const bytes = readFileSync(path);
    bytes[10] = bytes[10]! ^ 1;
    writeFileSync(path, bytes);
    await expect(store.write(4, 5, new Uint8Array([1, 2, 3]))).rejects.toThrow(/before overwrite/);
  });

  test("a chunk file cut short on disk is reported damaged at load", async () => {
    const { dir, store } = fresh();
    store.create(5, 1);
    await store.write(5, 0, randomBytes(100_000, 7));
    store.closeAll();
    writeFileSync(join(dir, "chunks", `${handleName(5)}.meta`), new Uint8Array(3));
    const again = new ChunkStore(dir, CHUNK);
    expect(again.load().damaged).toEqual([5]);
    truncateSync(join(dir, "chunks", `${handleName(5)}.chunk`), 10);
  });

  test("a chunk file truncated at a block boundary is damaged at load, not a shorter replica", async () => {
    const { dir, store } = fresh();
    store.create(9, 4);
    await store.write(9, 0, randomBytes(CHUNK, 13));
    store.closeAll();
    truncateSync(join(dir, "chunks", `${handleName(9)}.chunk`), 3 * BLOCK_BYTES);
    const again = new ChunkStore(dir, CHUNK);
    expect(again.load().damaged).toEqual([9]);
    expect(again.get(9)!.damage).toMatch(/shorter than its 16 block checksums cover/);
    expect(again.reports()).toEqual([]);
    await expect(again.read(9, 0, 10)).rejects.toThrow(/corrupt/);
  });

  test("one flipped bit in a replica's stored version makes it damaged, never a newer version", async () => {
    const { dir, store } = fresh();
    store.create(10, 1);
    await store.write(10, 0, randomBytes(1000, 14));
    store.setVersion(10, 7);
    store.closeAll();
    const meta = join(dir, "chunks", `${handleName(10)}.meta`);
    const bytes = readFileSync(meta);
    bytes[8] = bytes[8]! ^ 0x10; // the high word of the version: 7 -> 2^36 + 7
    writeFileSync(meta, bytes);
    const again = new ChunkStore(dir, CHUNK);
    expect(again.load().damaged).toEqual([10]);
    expect(again.get(10)!.damage).toMatch(/fails its checksum/);
    expect(again.reports()).toEqual([]);
  });

  test("data that does not match its sender's CRC32C is refused before anything is written", async () => {
    const { store } = fresh();
    store.create(11, 1);
    const first = randomBytes(100_000, 15);
    await store.write(11, 0, { data: first, crc: crc32c(first) });
    const next = randomBytes(3 * BLOCK_BYTES + 5, 16);
    const crc = crc32c(next);
    next[70_000] = next[70_000]! ^ 4; // damaged on the way
    await expect(store.write(11, first.byteLength, { data: next, crc })).rejects.toThrow(/arrived damaged/);
    expect(store.get(11)!.sizeBytes).toBe(first.byteLength);
    await expect(store.write(11, 200_000, { data: next, crc })).rejects.toThrow(/arrived damaged/); // past the end
    next[70_000] = next[70_000]! ^ 4;
    await store.write(11, first.byteLength, { data: next, crc });
    expect(Buffer.compare(await store.read(11, 0, CHUNK), Buffer.concat([first, next]))).toBe(0);
  });

  test("writes and reads of one chunk take effect in the order they were issued", async () => {
    const { store } = fresh();
    store.create(8, 1);
    const a = randomBytes(512 * 1024, 11); // large: written on the thread pool
    const b = randomBytes(1000, 12); // small: written inline
    const writes = [store.write(8, 0, a), store.write(8, a.byteLength, b), store.write(8, 10, new Uint8Array([7]))];
    const read = store.read(8, 0, CHUNK);
    expect(await Promise.all(writes)).toEqual([a.byteLength, a.byteLength + 1000, a.byteLength + 1000]);
    const expected = Buffer.concat([a, b]);
    expected[10] = 7;
    expect(Buffer.compare(await read, expected)).toBe(0);
  });

  test("versions never go back and writes never pass the chunk size", async () => {
    const { store } = fresh();
    store.create(6, 3);
    expect(() => store.setVersion(6, 2)).toThrow(/version goes back/);
    await expect(store.write(6, CHUNK - 1, new Uint8Array(2))).rejects.toThrow(/passes the chunk size/);
  });
});
