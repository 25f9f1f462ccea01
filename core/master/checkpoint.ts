// Checkpoints and recovery (M6). A checkpoint is the state as a compact stream
// of records (header, one per directory and file, trailer), written to a
// temporary name, synced, then renamed, so a complete checkpoint is recognised
// by its trailer and an incomplete one is skipped. checkpoint.N holds the
// state after every log below N; recovery loads the newest complete one and
// replays logs N, N+1, ... in order.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, readdirSync, renameSync, truncateSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { GfsError, ErrorCode, assert } from "../../net/errors";
import { logFileName } from "./oplog";
import { decodeRecords, encodeRecord, intactRecordAfter } from "./records";
import { MasterState, ROOT, type ClusterParams, type Op } from "./state";

export function checkpointFileName(seq: number): string {
  return `checkpoint.${String(seq).padStart(10, "0")}`;
}

type CheckpointRecord =
  /** lastOp: the sequence number of the last logged change the checkpoint holds. */
  | { o: "ckpt"; seq: number; handleLimit: number; cs: number; r: number; lastOp: number }
  /** r: the directory's replication for files created below it (absent: inherited). */
  | { o: "dir"; p: string; t: number; r?: number; nt?: 1 }
  /** c: [handle, version, size, handle, version, size, ...] */
  | { o: "file"; p: string; r: number; t: number; c: number[] }
  /** c: [handle, ceiling, ...]: version ceilings above version plus one (versions.ts), after every file. */
  | { o: "ceil"; c: number[] }
  | { o: "end"; n: number };

/** Writes checkpoint.`seq` of `state` into `dir`, synchronously (run it off the serving process). */
export function writeCheckpoint(dir: string, state: MasterState, seq: number): string {
  const final = join(dir, checkpointFileName(seq));
  const tmp = final + ".tmp";
  const fd = openSync(tmp, "w");
  let records = 0;
  let buf: Uint8Array[] = [];
  let bufBytes = 0;
  const put = (r: CheckpointRecord) => {
    const rec = encodeRecord(r);
    buf.push(rec);
    bufBytes += rec.byteLength;
    records++;
    if (bufBytes > 1 << 20) flush();
  };
  const flush = () => {
    for (const b of buf) {
      let done = 0;
      while (done < b.byteLength) done += writeSync(fd, b, done, b.byteLength - done);
    }
    buf = [];
    bufBytes = 0;
  };
  try {
    put({ o: "ckpt", seq, handleLimit: state.handleLimit, cs: state.params.chunkSizeBytes, r: state.params.replication, lastOp: state.lastOp });
    const ns = state.ns;
    put({ o: "dir", p: "/", t: ns.mtimeOf(ROOT), ...(ns.replicationOf(ROOT) ? { r: ns.replicationOf(ROOT) } : {}) });
    for (const [path, id] of state.walk()) {
      if (ns.isDir(id)) put({ o: "dir", p: path, t: ns.mtimeOf(id), ...(ns.replicationOf(id) ? { r: ns.replicationOf(id) } : {}), ...(ns.noTrash(id) ? { nt: 1 as const } : {}) });
      else {
        const c: number[] = [];
        for (const h of ns.chunks(id)) c.push(h, state.chunks.versionOf(h), state.chunks.sizeOf(h));
        put({ o: "file", p: path, r: ns.replicationOf(id), t: ns.mtimeOf(id), c });
      }
    }
    const ceilings = state.chunks.raisedCeilings();
    if (ceilings.length > 0) put({ o: "ceil", c: ceilings.flat() });
    put({ o: "end", n: records + 1 });
    flush();
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, final);
  syncDir(dir);
  return final;
}

/** Loads a checkpoint; returns null when it is incomplete or damaged. */
export function readCheckpoint(path: string, params?: ClusterParams): MasterState | null {
  const { values, damaged } = decodeRecords(new Uint8Array(readFileSync(path)));
  if (damaged || values.length < 2) return null;
  const head = values[0] as CheckpointRecord;
  const tail = values[values.length - 1] as CheckpointRecord;
  if (head.o !== "ckpt" || tail.o !== "end" || tail.n !== values.length) return null;
  if (params && (params.chunkSizeBytes !== head.cs || params.replication !== head.r)) return null;
  const state = new MasterState(params ?? { chunkSizeBytes: head.cs, replication: head.r });
  if (!Number.isSafeInteger(head.lastOp)) return null;
  state.handleLimit = head.handleLimit;
  state.lastOp = head.lastOp;
  const ns = state.ns;
  const dirs = new Map<string, number>([["/", ROOT]]);
  for (let i = 1; i < values.length - 1; i++) {
    const r = values[i] as CheckpointRecord;
    if (r.o === "dir" && r.p === "/") {
      ns.setMtime(ROOT, r.t);
      if (r.r) ns.setReplication(ROOT, r.r);
      continue;
    }
    if (r.o === "ceil") {
      for (let k = 0; k < r.c.length; k += 2) if (state.chunks.has(r.c[k]!)) state.chunks.raiseCeiling(r.c[k]!, r.c[k + 1]!);
      continue;
    }
    if (r.o !== "dir" && r.o !== "file") return null;
    const slash = r.p.lastIndexOf("/");
    const parent = dirs.get(slash === 0 ? "/" : r.p.slice(0, slash));
    if (!parent) return null;
    const name = r.p.slice(slash + 1);
    if (r.o === "dir") {
      const d = ns.addDir(parent, name, r.t);
      if (r.r) ns.setReplication(d, r.r);
      if (r.nt) ns.setNoTrash(d, true);
      dirs.set(r.p, d);
    } else {
      const id = ns.addFile(parent, name, r.r, r.t);
      for (let k = 0; k < r.c.length; k += 3) {
        const h = r.c[k]!;
        if (state.chunks.has(h)) state.chunks.addRef(h); // shared with a snapshot
        else state.chunks.add(h, r.c[k + 1]!, r.c[k + 2]!);
        ns.appendChunk(id, h);
      }
    }
  }
  return state;
}

interface Files {
  checkpoints: number[];
  logs: number[];
}

export function listFiles(dir: string): Files {
  const checkpoints: number[] = [];
  const logs: number[] = [];
  for (const name of readdirSync(dir)) {
    const m = /^(checkpoint|log)\.(\d{10})$/.exec(name);
    if (!m) continue;
    (m[1] === "checkpoint" ? checkpoints : logs).push(Number(m[2]));
  }
  checkpoints.sort((a, b) => a - b);
  logs.sort((a, b) => a - b);
  return { checkpoints, logs };
}

export interface Recovered {
  state: MasterState;
  /** Sequence number of the last log replayed (the one to keep appending to). */
  lastLogSeq: number;
  lastLogBytes: number;
  checkpointSeq: number;
  /** The last change the checkpoint loaded holds (0: none loaded). */
  checkpointLastOp: number;
  replayedOps: number;
  /** What `recoverDamage` moved aside, if anything. */
  recovered?: string;
}

export interface RecoverOptions {
  /** Replay only logs below this one (the checkpoint writer). */
  uptoSeq?: number;
  /** Cut a torn record at the end of the last log (off for the checkpoint writer, which must change nothing). */
  repairTail?: boolean;
  /**
   * Start from the last good record when a log is damaged (the operator's
   * --recover): the damaged log and every later one are moved aside and the
   * good part of the damaged one is written back in its place.
   */
  recoverDamage?: boolean;
}

/**
 * Rebuilds the state from the newest complete checkpoint below `uptoSeq` plus
 * the logs after it (M5, M6, R2). Logged changes carry consecutive sequence
 * numbers from the checkpoint on. A torn record at the very end of the last
 * log, with nothing intact after it, is a write cut short by a crash: never
 * acknowledged, so it is cut off. Anything else (a damaged record with intact
 * ones after it, damage in an earlier log, a gap in the numbers) would lose
 * acknowledged changes: recovery refuses, naming the file and the offset,
 * and changes nothing on disk, unless `recoverDamage` says to go on.
 */
export function recover(dir: string, params: ClusterParams, opts: RecoverOptions = {}): Recovered {
  const uptoSeq = opts.uptoSeq ?? Infinity;
  const repairTail = opts.repairTail ?? uptoSeq === Infinity;
  const files = listFiles(dir);
  let state: MasterState | null = null;
  let checkpointSeq = 0;
  for (const seq of files.checkpoints.filter((s) => s <= uptoSeq).reverse()) {
    state = readCheckpoint(join(dir, checkpointFileName(seq)), params);
    if (state) {
      checkpointSeq = seq;
      break;
    }
  }
  state ??= new MasterState(params);
  const checkpointLastOp = state.lastOp;
  const logs = files.logs.filter((s) => s >= checkpointSeq && s < uptoSeq);
  let replayedOps = 0;
  let lastLogBytes = 0;
  let lastLogSeq = Math.max(checkpointSeq, 1);
  let recovered: string | undefined;
  for (let i = 0; i < logs.length; i++) {
    const seq = logs[i]!;
    const path = join(dir, logFileName(seq));
    const bytes = new Uint8Array(readFileSync(path));
    const { values, offsets, validBytes, damaged } = decodeRecords(bytes);
    const isLast = i === logs.length - 1;
    let problem: { at: number; why: string } | null = null;
    for (let k = 0; k < values.length; k++) {
      const op = values[k] as Op;
      if (op.q !== state.lastOp + 1) {
        problem = { at: offsets[k]!, why: `holds change ${op.q ?? "(unnumbered)"} where change ${state.lastOp + 1} was expected` };
        break;
      }
      state.apply(op);
      state.lastOp = op.q;
      replayedOps++;
    }
    if (!problem && damaged) {
      const next = intactRecordAfter(bytes, validBytes + 1);
      if (isLast && uptoSeq === Infinity && next < 0) {
        // A torn tail; the log is preallocated again when it is reopened.
        if (repairTail) truncateSync(path, validBytes);
      } else {
        problem = { at: validBytes, why: next >= 0 ? `has a damaged record with intact records after it (from byte ${next})` : "has a damaged record and later logs follow it" };
      }
    }
    lastLogSeq = seq;
    lastLogBytes = validBytes;
    if (problem) {
      const later = logs.slice(i + 1).length;
      if (!opts.recoverDamage) {
        throw new GfsError(
          ErrorCode.INTERNAL,
          `operation log ${path} is damaged at byte ${problem.at}: it ${problem.why}; starting would lose acknowledged changes, so the master refuses to start and has changed nothing on disk ` +
            `(to start from the last good record, moving the damaged log${later ? ` and ${later} later one${later > 1 ? "s" : ""}` : ""} aside, run it once with --recover)`,
        );
      }
      recovered = moveAside(dir, path, bytes, problem.at, logs.slice(i + 1));
      lastLogBytes = problem.at;
      break;
    }
  }
  return { state, lastLogSeq, lastLogBytes, checkpointSeq, checkpointLastOp, replayedOps, recovered };
}

/** Moves a damaged log and the logs after it aside; writes the good part back in the damaged one's place. */
function moveAside(dir: string, path: string, bytes: Uint8Array, goodBytes: number, laterSeqs: number[]): string {
  const suffix = `.damaged-${Date.now()}`;
  renameSync(path, path + suffix);
  const fd = openSync(path, "w");
  try {
    let done = 0;
    while (done < goodBytes) done += writeSync(fd, bytes, done, goodBytes - done);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  for (const s of laterSeqs) renameSync(join(dir, logFileName(s)), join(dir, logFileName(s)) + suffix);
  syncDir(dir);
  return `kept the first ${goodBytes} bytes of ${path}; moved it${laterSeqs.length ? ` and ${laterSeqs.length} later log(s)` : ""} aside with the suffix ${suffix}`;
}

function syncDir(dir: string): void {
  const dfd = openSync(dir, "r");
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/** Removes checkpoints and logs older than the checkpoint before `keepFrom`. */
export function pruneOld(dir: string, keepFrom: number): void {
  const files = listFiles(dir);
  const older = files.checkpoints.filter((s) => s < keepFrom);
  const floor = older.length > 0 ? older[older.length - 1]! : 0;
  for (const s of files.checkpoints) if (s < floor) unlinkSync(join(dir, checkpointFileName(s)));
  for (const s of files.logs) if (s < floor) unlinkSync(join(dir, logFileName(s)));
  for (const name of readdirSync(dir)) if (name.endsWith(".tmp")) {
    try {
      unlinkSync(join(dir, name));
    } catch {}
  }
  assert(existsSync(join(dir, checkpointFileName(keepFrom))) || keepFrom === 0, "the new checkpoint exists before older files go");
}
