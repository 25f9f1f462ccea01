// The integrity audit behind `gfs fsck` (O1): every file below a path, every
// chunk of it, and what is wrong with its replicas. Pure: the master passes
// the files and a view of the replicas; the report is what the user sees.
import type { FsckProblem, FsckReport, Handle } from "../../net/messages";
import { handleName } from "../handles";

export interface FsckFile {
  path: string;
  target: number;
  sizeBytes: number;
  chunks: readonly Handle[];
}

export interface ReplicaView {
  /** Racks of the live servers holding a current replica that counts (not draining). */
  racksOf(h: Handle): readonly string[];
  /** Replicas on draining servers (they serve, but do not count). */
  leaving(h: Handle): number;
  /** The chunk's only replicas are damaged copies kept on disk. */
  damaged(h: Handle): boolean;
  /** Stale or surplus replicas waiting to be deleted. */
  staleReplicas(h: Handle): number;
  /** A copy of it is under way. */
  repairing(h: Handle): boolean;
  /** Racks with live servers in the cluster. */
  racks: number;
}

/** Problems listed at most; the counts cover everything. */
export const MAX_PROBLEMS = 1000;

export function audit(files: Iterable<FsckFile>, directories: number, view: ReplicaView): FsckReport {
  const r: FsckReport = {
    healthy: true, files: 0, directories, chunks: 0, bytes: 0,
    underReplicated: 0, overReplicated: 0, missing: 0, corrupt: 0, stale: 0, misplaced: 0,
    repairing: 0, problems: [], problemsOmitted: 0,
  };
  const problem = (p: FsckProblem) => {
    if (r.problems.length < MAX_PROBLEMS) r.problems.push(p);
    else r.problemsOmitted++;
  };
  const seen = new Set<Handle>();
  for (const f of files) {
    r.files++;
    r.bytes += f.sizeBytes;
    f.chunks.forEach((h, index) => {
      const first = !seen.has(h); // a chunk shared by snapshots counts once
      seen.add(h);
      if (first) r.chunks++;
      const racks = view.racksOf(h);
      const chunk = handleName(h);
      const add = (what: keyof FsckReport & ("underReplicated" | "overReplicated" | "missing" | "corrupt" | "misplaced"), text: string) => {
        if (first) r[what]++;
        problem({ path: f.path, index, chunk, problem: text });
      };
      if (racks.length === 0 && view.leaving(h) > 0) {
        add("underReplicated", `0 of ${f.target} replicas outside draining servers${view.repairing(h) ? " (being copied)" : ""}`);
      } else if (racks.length === 0) {
        if (view.damaged(h)) add("corrupt", "every replica is damaged");
        else add("missing", "no live replica");
      } else if (racks.length < f.target) {
        add("underReplicated", `${racks.length} of ${f.target} replicas${view.repairing(h) ? " (being copied)" : ""}`);
      } else if (racks.length > f.target) {
        add("overReplicated", `${racks.length} replicas, target ${f.target}`);
      } else if (f.target > 1 && view.racks > 1 && new Set(racks).size === 1) {
        add("misplaced", `all ${racks.length} replicas in rack ${racks[0]}`);
      }
      if (first) {
        r.stale += view.staleReplicas(h);
        if (view.repairing(h)) r.repairing++;
      }
    });
  }
  r.healthy = r.underReplicated + r.overReplicated + r.missing + r.corrupt + r.misplaced === 0;
  return r;
}
