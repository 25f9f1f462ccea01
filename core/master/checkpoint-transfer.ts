// Checkpoint transfer between HA masters (M16). A master that lacks log
// batches etcd no longer keeps (its data directory was lost, or it was away
// while every other master checkpointed past them) fetches a peer's newest
// checkpoint in slices over our protocol, checks it whole, and installs it
// as its own newest checkpoint; it then follows the log from there.
import { closeSync, openSync, readSync, renameSync, statSync, writeFileSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, GfsError } from "../../net/errors";
import type { RepBody, ReqBody } from "../../net/messages";
import type { Peer } from "../../net/peer";
import { checkpointFileName, listFiles, readCheckpoint } from "./checkpoint";
import { decodeRecords } from "./records";
import type { ClusterParams } from "./state";

/** Bytes of checkpoint per reply at most. */
export const SLICE_BYTES = 4 * 1024 * 1024;

/** The last change a checkpoint file holds, read from its first record. */
function lastOpOf(path: string): number {
  const fd = openSync(path, "r");
  try {
    const head = new Uint8Array(64 * 1024);
    const n = readSync(fd, head, 0, head.byteLength, 0);
    const first = decodeRecords(head.subarray(0, n)).values[0] as { o?: string; lastOp?: number } | undefined;
    if (first?.o !== "ckpt" || !Number.isSafeInteger(first.lastOp)) throw new GfsError(ErrorCode.INTERNAL, `${path} does not start with a checkpoint header`);
    return first.lastOp!;
  } finally {
    closeSync(fd);
  }
}

/** Serves one slice of this master's newest checkpoint (or of checkpoint `seq`, while it is still here). */
export function checkpointSlice(dir: string, b: ReqBody<"checkpoint">): RepBody<"checkpoint"> {
  const seqs = listFiles(dir).checkpoints;
  const seq = b.seq ?? seqs[seqs.length - 1];
  if (seq === undefined || !seqs.includes(seq)) throw new GfsError(ErrorCode.NOT_FOUND, seq === undefined ? "this master has no checkpoint yet" : `checkpoint ${seq} is gone (a newer one replaced it): fetch again`);
  const path = join(dir, checkpointFileName(seq));
  const size = statSync(path).size;
  const len = Math.max(0, Math.min(SLICE_BYTES, size - b.offset));
  const data = new Uint8Array(len);
  const fd = openSync(path, "r");
  try {
    let done = 0;
    while (done < len) {
      const n = readSync(fd, data, done, len - done, b.offset + done);
      if (n === 0) break;
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return { seq, size, lastOp: lastOpOf(path), data };
}

/**
 * Fetches `peer`'s newest checkpoint into `dir` as checkpoint N, N after
 * every local checkpoint and log (so recovery starts from it). Returns the
 * last change it holds.
 */
export async function fetchCheckpoint(peer: Peer, dir: string, params: ClusterParams): Promise<number> {
  const files = listFiles(dir);
  const local = Math.max(0, ...files.checkpoints, ...files.logs) + 1;
  const final = join(dir, checkpointFileName(local));
  const tmp = final + ".fetch";
  const parts: Uint8Array[] = [];
  const first = await peer.call("checkpoint", { offset: 0 }, 60_000);
  parts.push(first.data);
  let got = first.data.byteLength;
  while (got < first.size) {
    const next = await peer.call("checkpoint", { seq: first.seq, offset: got }, 60_000);
    if (next.data.byteLength === 0) throw new GfsError(ErrorCode.PROTOCOL, `checkpoint ${first.seq} from ${peer.remote} ended at ${got} of ${first.size} bytes`);
    parts.push(next.data);
    got += next.data.byteLength;
  }
  const bytes = Buffer.concat(parts);
  writeFileSync(tmp, bytes);
  const state = readCheckpoint(tmp, params);
  if (!state || state.lastOp !== first.lastOp) {
    unlinkSync(tmp);
    throw new GfsError(ErrorCode.PROTOCOL, `the checkpoint from ${peer.remote} is incomplete or damaged, or of another cluster`);
  }
  renameSync(tmp, final);
  return first.lastOp;
}
