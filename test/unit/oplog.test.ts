import { beforeAll, describe, expect, test } from "bun:test";
import { closeSync, openSync, readFileSync, readdirSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { initChecksums } from "../../core/checksums";
import { checkpointFileName, listFiles, pruneOld, readCheckpoint, recover, writeCheckpoint } from "../../core/master/checkpoint";
import { OpLog, logFileName } from "../../core/master/oplog";
import { encodeRecord } from "../../core/master/records";
import { encodeBatch } from "../../core/master/replicated-log";
import type { Op } from "../../core/master/state";
import { tempDir } from "../helpers/cluster";

beforeAll(initChecksums);
const params = { chunkSizeBytes: 1000, replication: 3 };

/** The next change number of each test directory's log (numbers run on across log files). */
const nextOps = new Map<string, number>();

async function logOps(dir: string, seq: number, ops: Op[]): Promise<OpLog> {
  const log = new OpLog(dir, 64 * 1024);
  await log.openSeq(seq, 0, nextOps.get(dir) ?? 1);
  await Promise.all(ops.map((op) => log.append(op)));
  nextOps.set(dir, log.nextOp);
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

  test("a local copy (HA) takes committed batches as they are, gathers them into few writes, and replays them", async () => {
    const dir = tempDir("gfs-log-");
    const log = new OpLog(dir, 64 * 1024, false);
    await log.openSeq(1, 0, 1);
    const ops = creates(300).map((op, i) => ({ ...op, q: i + 1 }));
    try {
      await appendApart(log, ops);
    } finally {
      await log.close();
    }
    expect(log.stats.records).toBe(300);
    expect(log.stats.flushes).toBeLessThan(10);
    const r = recover(dir, params);
    expect(r.state.fileCount).toBe(300);
    expect(r.state.lastOp).toBe(300);
  });

  /** Appends `ops` in batches of 3, each in its own turn of the event loop; checks a misnumbered batch is refused. */
  async function appendApart(log: OpLog, ops: Op[]): Promise<void> {
    const written: Promise<void>[] = [];
    for (let i = 0; i < ops.length; i += 3) {
      written.push(log.appendEncoded(encodeBatch(ops.slice(i, i + 3).map((op) => encodeRecord(op))), i + 1, 3));
      // Batches come in apart from each other (a durable log would write each on its own).
      await new Promise((r) => setImmediate(r));
    }
    // A batch that does not follow the last one is refused, not logged out of order.
    expect(() => log.appendEncoded(encodeBatch([encodeRecord({ ...ops[0]!, q: 500 })]), 500, 1)).toThrow(/changes 500/);
    await Promise.all(written);
  }

  test("a torn record at the end of the last log is cut off; earlier records stay", async () => {
    const dir = tempDir("gfs-log-");
    await (await logOps(dir, 1, creates(10))).close();
    const path = join(dir, logFileName(1));
    const clean = recover(dir, params, { repairTail: false });
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

  test("one flipped byte in the middle of the log is corruption: recovery refuses, names the file and offset, and changes nothing", async () => {
    const dir = tempDir("gfs-log-");
    await (await logOps(dir, 1, creates(200))).close();
    const path = join(dir, logFileName(1));
    const good = recover(dir, params, { repairTail: false }).lastLogBytes;
    const bytes = readFileSync(path);
    const at = Math.floor(good / 4);
    bytes[at] = bytes[at]! ^ 0x40;
    writeFileSync(path, bytes);
    const before = readFileSync(path);
    expect(() => recover(dir, params)).toThrow(new RegExp(`${logFileName(1)} is damaged at byte \\d+: it has a damaged record with intact records after it.*--recover`));
    expect(Buffer.compare(readFileSync(path), before)).toBe(0);
    expect(readdirSync(dir)).toEqual([logFileName(1)]);
  });

  test("--recover starts from the last good record and moves the damaged log and later ones aside", async () => {
    const dir = tempDir("gfs-log-");
    await (await logOps(dir, 1, creates(100))).close();
    const at = Math.floor(recover(dir, params, { repairTail: false }).lastLogBytes / 2);
    await (await logOps(dir, 2, creates(10, "/later"))).close();
    const path = join(dir, logFileName(1));
    const bytes = readFileSync(path);
    bytes[at] = bytes[at]! ^ 0x01;
    writeFileSync(path, bytes);
    expect(() => recover(dir, params)).toThrow(/and 1 later one aside/);
    const r = recover(dir, params, { recoverDamage: true });
    expect(r.recovered).toMatch(/moved it and 1 later log\(s\) aside/);
    expect(r.state.fileCount).toBeGreaterThan(30);
    expect(r.state.fileCount).toBeLessThan(60);
    expect(listFiles(dir).logs).toEqual([1]);
    expect(readdirSync(dir).filter((n) => n.includes(".damaged-"))).toHaveLength(2);
    // The log goes on from there, numbers and all.
    const log = new OpLog(dir, 64 * 1024);
    await log.openSeq(r.lastLogSeq, r.lastLogBytes, r.state.lastOp + 1);
    await log.append({ o: "mkdir", p: "/after", t: 1 });
    await log.close();
    const again = recover(dir, params);
    expect(again.state.fileCount).toBe(r.state.fileCount);
    expect(again.state.dirCount).toBe(2);
  });

  test("a gap in the change numbers (a log that does not follow its checkpoint) is refused", async () => {
    const dir = tempDir("gfs-log-");
    await (await logOps(dir, 1, creates(5))).close();
    writeCheckpoint(dir, recover(dir, params, { uptoSeq: 2, repairTail: false }).state, 2);
    nextOps.set(dir, 9); // changes 6, 7 and 8 are missing
    await (await logOps(dir, 2, creates(3, "/g"))).close();
    expect(() => recover(dir, params)).toThrow(/holds change 9 where change 6 was expected/);
  });

  test("recovery loads the newest complete checkpoint and replays only later logs", async () => {
    const dir = tempDir("gfs-log-");
    await (await logOps(dir, 1, [{ o: "handles", n: 10 }, ...creates(20), { o: "chunk", p: "/f1", h: 3, v: 1 }, { o: "size", p: "/f1", s: 700, t: 9 }])).close();
    const upto = recover(dir, params, { uptoSeq: 2, repairTail: false });
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

  test("version ceilings replay from the log, survive a checkpoint, and end when a version reaches them", async () => {
    const dir = tempDir("gfs-log-");
    await (await logOps(dir, 1, [
      { o: "handles", n: 10 },
      { o: "create", p: "/a", r: 3, t: 1 },
      { o: "chunk", p: "/a", h: 1, v: 1 },
      { o: "chunk", p: "/a", h: 2, v: 1 },
      { o: "chunk", p: "/a", h: 3, v: 1 },
      { o: "ver", h: 1, v: 2 },
      { o: "vmax", h: 1, c: 4 },
      { o: "vmax", h: 2, c: 3 },
      { o: "vmax", h: 3, c: 3 },
      { o: "ver", h: 3, v: 3 },
    ])).close();
    const upto = recover(dir, params, { uptoSeq: 2, repairTail: false });
    expect([1, 2, 3].map((h) => upto.state.chunks.ceilingOf(h))).toEqual([4, 3, 4]);
    writeCheckpoint(dir, upto.state, 2);
    await (await logOps(dir, 2, [{ o: "vmax", h: 2, c: 5 }])).close();
    const r = recover(dir, params);
    expect(r.checkpointSeq).toBe(2);
    expect([1, 2, 3].map((h) => r.state.chunks.ceilingOf(h))).toEqual([4, 5, 4]);
    expect(() => r.state.apply({ o: "vmax", h: 1, c: 3 })).toThrow(/never goes back/);
    r.state.apply({ o: "ver", h: 1, v: 4 });
    expect(r.state.chunks.ceilingOf(1)).toBe(5);
    expect(r.state.chunks.raisedCeilings()).toEqual([[2, 5]]);
  });

  test("replication targets (setrep) replay from the log and survive a checkpoint: a directory's for files below it", async () => {
    const dir = tempDir("gfs-log-");
    await (await logOps(dir, 1, [
      { o: "mkdir", p: "/tmp", t: 1 },
      { o: "mkdir", p: "/tmp/sub", t: 1 },
      { o: "create", p: "/tmp/sub/a", r: 3, t: 2 },
      { o: "create", p: "/b", r: 3, t: 2 },
      { o: "rep", p: "/tmp", r: 1 },
      { o: "rep", p: "/b", r: 5 },
      { o: "notrash", p: "/tmp/sub", v: true },
    ])).close();
    const check = (st: ReturnType<typeof recover>["state"]) => {
      expect(st.ns.replicationOf(st.lookup("/tmp"))).toBe(1);
      expect(st.ns.replicationOf(st.lookup("/tmp/sub"))).toBe(0); // inherits
      expect(st.ns.replicationOf(st.lookup("/tmp/sub/a"))).toBe(1); // every file below, now
      expect(st.ns.replicationOf(st.lookup("/b"))).toBe(5);
      expect(st.ns.noTrash(st.lookup("/tmp/sub"))).toBe(true);
      expect(st.ns.noTrash(st.lookup("/tmp"))).toBe(false);
    };
    check(recover(dir, params).state);
    writeCheckpoint(dir, recover(dir, params, { uptoSeq: 2, repairTail: false }).state, 2);
    const back = readCheckpoint(join(dir, checkpointFileName(2)), params)!;
    check(back);
  });

  test("pruning keeps the previous checkpoint and the logs after it", async () => {
    const dir = tempDir("gfs-log-");
    for (const seq of [1, 2, 3]) await (await logOps(dir, seq, creates(2, `/s${seq}-`))).close();
    writeCheckpoint(dir, recover(dir, params, { uptoSeq: 2, repairTail: false }).state, 2);
    writeCheckpoint(dir, recover(dir, params, { uptoSeq: 3, repairTail: false }).state, 3);
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
    writeCheckpoint(dir, recover(dir, params, { uptoSeq: 2, repairTail: false }).state, 2);
    const r = recover(dir, params);
    expect(r.checkpointSeq).toBe(2);
    expect(r.state.chunks.get(3)).toEqual({ version: 2, sizeBytes: 0, refs: 2 });
  });
});
