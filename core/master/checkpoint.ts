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
import { decodeRecords, encodeRecord } from "./records";
import { MasterState, ROOT, type ClusterParams, type Op } from "./state";

export function checkpointFileName(seq: number): string {
  return `checkpoint.${String(seq).padStart(10, "0")}`;
}

type CheckpointRecord =
  | { o: "ckpt"; seq: number; handleLimit: number; cs: number; r: number }
  | { o: "dir"; p: string; t: number }
  /** c: [handle, version, size, handle, version, size, ...] */
  | { o: "file"; p: string; r: number; t: number; c: number[] }
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
    put({ o: "ckpt", seq, handleLimit: state.handleLimit, cs: state.params.chunkSizeBytes, r: state.params.replication });
    const ns = state.ns;
    put({ o: "dir", p: "/", t: ns.mtimeOf(ROOT) });
    for (const [path, id] of state.walk()) {
      if (ns.isDir(id)) put({ o: "dir", p: path, t: ns.mtimeOf(id) });
      else {
        const c: number[] = [];
        for (const h of ns.chunks(id)) c.push(h, state.chunks.versionOf(h), state.chunks.sizeOf(h));
        put({ o: "file", p: path, r: ns.replicationOf(id), t: ns.mtimeOf(id), c });
      }
    }
    put({ o: "end", n: records + 1 });
    flush();
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, final);
  const dfd = openSync(dir, "r");
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
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
  state.handleLimit = head.handleLimit;
  const ns = state.ns;
  const dirs = new Map<string, number>([["/", ROOT]]);
  for (let i = 1; i < values.length - 1; i++) {
    const r = values[i] as CheckpointRecord;
    if (r.o === "dir" && r.p === "/") {
      ns.setMtime(ROOT, r.t);
      continue;
    }
    if (r.o !== "dir" && r.o !== "file") return null;
    const slash = r.p.lastIndexOf("/");
    const parent = dirs.get(slash === 0 ? "/" : r.p.slice(0, slash));
    if (!parent) return null;
    const name = r.p.slice(slash + 1);
    if (r.o === "dir") {
      dirs.set(r.p, ns.addDir(parent, name, r.t));
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
  replayedOps: number;
}

/**
 * Rebuilds the state from the newest complete checkpoint below `uptoSeq` plus
 * the logs after it. A torn record at the end of the last log is cut off
 * (it was never acknowledged); damage anywhere else stops recovery.
 */
export function recover(dir: string, params: ClusterParams, uptoSeq = Infinity, repairTail = true): Recovered {
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
  const logs = files.logs.filter((s) => s >= checkpointSeq && s < uptoSeq);
  let replayedOps = 0;
  let lastLogBytes = 0;
  let lastLogSeq = Math.max(checkpointSeq, 1);
  logs.forEach((seq, i) => {
    const path = join(dir, logFileName(seq));
    const bytes = new Uint8Array(readFileSync(path));
    const { values, validBytes, damaged } = decodeRecords(bytes);
    const isLast = i === logs.length - 1;
    if (damaged && !(isLast && uptoSeq === Infinity)) {
      if (!isLast) throw new GfsError(ErrorCode.INTERNAL, `${path} is damaged at byte ${validBytes}; refusing to start with a gap in the log`);
    }
    for (const v of values) {
      state!.apply(v as Op);
      replayedOps++;
    }
    // Cut a torn tail; the log is preallocated again when it is reopened.
    if (damaged && isLast && repairTail) truncateSync(path, validBytes);
    lastLogSeq = seq;
    lastLogBytes = validBytes;
  });
  return { state, lastLogSeq, lastLogBytes, checkpointSeq, replayedOps };
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
