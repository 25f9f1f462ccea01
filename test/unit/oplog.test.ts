import { beforeAll, describe, expect, test } from "bun:test";
import { closeSync, openSync, readdirSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { initChecksums } from "../../core/chunkserver/checksums";
import { checkpointFileName, listFiles, pruneOld, readCheckpoint, recover, writeCheckpoint } from "../../core/master/checkpoint";
import { OpLog, logFileName } from "../../core/master/oplog";
import type { Op } from "../../core/master/state";
import { tempDir } from "../helpers/cluster";

beforeAll(initChecksums);
const params = { chunkSizeBytes: 1000, replication: 3 };

async function logOps(dir: string, seq: number, ops: Op[]): Promise<OpLog> {
  const log = new OpLog(dir, 64 * 1024);
  await log.openSeq(seq, 0);
  await Promise.all(ops.map((op) => log.append(op)));
  return log;
}

const creates = (n: number, prefix = "/f"): Op[] => Array.from({ length: n }, (_, i) => ({ o: "create", p: `${prefix}${i}`, r: 3, t: i }));

describe("operation log", () => {
  test("concurrent appends are flushed together (group commit) and all replay", async () => {
    const dir = tempDir("gfs-log-");
    const log = await logOps(dir, 1, creates(500));
    expect(log.stats.records).toBe(500);
    expect(log.stats.flushes).toBeLessThan(50);
    await log.close();
    const r = recover(dir, params);
    expect(r.state.fileCount).toBe(500);
    expect(r.replayedOps).toBe(500);
  });

  test("a torn record at the end of the last log is cut off; earlier records stay", async () => {
    const dir = tempDir("gfs-log-");
    await (await logOps(dir, 1, creates(10))).close();
    const path = join(dir, logFileName(1));
    const clean = recover(dir, params, Infinity, false);
    expect(clean.state.fileCount).toBe(10);
    const good = clean.lastLogBytes;
    expect(statSync(path).size).toBeGreaterThan(good); // zeros preallocated ahead
    // A crash mid-write leaves a record header promising more than is there.
    const fd = openSync(path, "r+");
    writeSync(fd, new Uint8Array([0, 0, 0, 40, 1, 2, 3, 4, 5]), 0, 9, good);
    closeSync(fd);
    const r = recover(dir, params);
    expect(r.state.fileCount).toBe(10);
    expect(statSync(path).size).toBe(good);
    expect(r.lastLogBytes).toBe(good);
  });

  test("damage inside an older log stops recovery instead of skipping changes", async () => {
    const dir = tempDir("gfs-log-");
    await (await logOps(dir, 1, creates(5))).close();
    await (await logOps(dir, 2, creates(5, "/g"))).close();
    writeFileSync(join(dir, logFileName(1)), new Uint8Array([0, 0, 0, 9, 9, 9]));
    expect(() => recover(dir, params)).toThrow(/damaged/);
  });

  test("recovery loads the newest complete checkpoint and replays only later logs", async () => {
    const dir = tempDir("gfs-log-");
    await (await logOps(dir, 1, [{ o: "handles", n: 10 }, ...creates(20), { o: "chunk", p: "/f1", h: 3, v: 1 }, { o: "size", p: "/f1", s: 700, t: 9 }])).close();
    const upto = recover(dir, params, 2, false);
    writeCheckpoint(dir, upto.state, 2);
    await (await logOps(dir, 2, [{ o: "rm", p: "/f0", t: 1 }, { o: "ver", h: 3, v: 4 }])).close();
    const r = recover(dir, params);
    expect(r.checkpointSeq).toBe(2);
    expect(r.replayedOps).toBe(2);
    expect(r.state.fileCount).toBe(19);
    expect(r.state.chunks.get(3)).toEqual({ version: 4, sizeBytes: 700, refs: 1 });
    expect(r.state.handleLimit).toBe(10);
    // An incomplete newer checkpoint is skipped.
    writeFileSync(join(dir, checkpointFileName(3)), new Uint8Array([0, 0, 0, 1, 0, 0, 0, 0, 0xc0]));
    expect(readCheckpoint(join(dir, checkpointFileName(3)))).toBeNull();
    expect(recover(dir, params).state.fileCount).toBe(19);
  });

  test("pruning keeps the previous checkpoint and the logs after it", async () => {
    const dir = tempDir("gfs-log-");
    for (const seq of [1, 2, 3]) await (await logOps(dir, seq, creates(2, `/s${seq}-`))).close();
    writeCheckpoint(dir, recover(dir, params, 2, false).state, 2);
    writeCheckpoint(dir, recover(dir, params, 3, false).state, 3);
    pruneOld(dir, 3);
    expect(listFiles(dir)).toEqual({ checkpoints: [2, 3], logs: [2, 3] });
    expect(recover(dir, params).state.fileCount).toBe(6);
    expect(readdirSync(dir).some((n) => n.endsWith(".tmp"))).toBe(false);
  });

  test("rotation switches files between flushes", async () => {
    const dir = tempDir("gfs-log-");
    const log = await logOps(dir, 1, creates(3));
    const a = log.append(creates(1, "/x")[0]!);
    const seq = await log.rotate();
    await log.append(creates(1, "/y")[0]!);
    await a;
    await log.close();
    expect(seq).toBe(2);
    expect(listFiles(dir).logs).toEqual([1, 2]);
    expect(recover(dir, params).state.fileCount).toBe(5);
  });
});

describe("checkpoints with snapshots", () => {
  test("shared chunks come back shared, with their reference counts", async () => {
    const dir = tempDir("gfs-log-");
    await (await logOps(dir, 1, [{ o: "handles", n: 10 }, { o: "create", p: "/a", r: 3, t: 1 }, { o: "chunk", p: "/a", h: 3, v: 2 }, { o: "snap", s: "/a", d: "/b", t: 2 }])).close();
    writeCheckpoint(dir, recover(dir, params, 2, false).state, 2);
    const r = recover(dir, params);
    expect(r.checkpointSeq).toBe(2);
    expect(r.state.chunks.get(3)).toEqual({ version: 2, sizeBytes: 0, refs: 2 });
  });
});
