import { describe, expect, test } from "bun:test";
import { MAX_PROBLEMS, audit, type FsckFile, type ReplicaView } from "../../core/master/fsck";

function view(racks: Record<number, string[]>, opts: Partial<ReplicaView> = {}): ReplicaView {
  return { racksOf: (h) => racks[h] ?? [], leaving: () => 0, damaged: () => false, staleReplicas: () => 0, repairing: () => false, racks: 3, ...opts };
}
const file = (path: string, chunks: number[], target = 3, sizeBytes = chunks.length * 100): FsckFile => ({ path, target, sizeBytes, chunks });

describe("fsck", () => {
  test("a healthy tree: counts, no problems", () => {
    const r = audit([file("/a", [1, 2]), file("/b", [3])], 2, view({ 1: ["r1", "r2", "r3"], 2: ["r1", "r1", "r2"], 3: ["r2", "r3", "r3"] }));
    expect(r).toMatchObject({ healthy: true, files: 2, directories: 2, chunks: 3, bytes: 300, underReplicated: 0, missing: 0, problems: [] });
  });

  test("each kind of problem is counted once per chunk and listed with path, index and handle", () => {
    const r = audit(
      [file("/a", [1, 2, 3, 4, 5]), file("/snap/a", [1])],
      1,
      view({ 1: ["r1", "r2"], 3: ["r1", "r2", "r3", "r1"], 4: ["r1", "r1", "r1"], 5: [] }, { damaged: (h) => h === 5, repairing: (h) => h === 1, staleReplicas: (h) => (h === 3 ? 2 : 0) }),
    );
    expect(r).toMatchObject({ healthy: false, chunks: 5, underReplicated: 1, overReplicated: 1, missing: 1, corrupt: 1, misplaced: 1, stale: 2, repairing: 1 });
    expect(r.problems.map((p) => [p.path, p.index, p.chunk, p.problem])).toEqual([
      ["/a", 0, "0000000000000001", "2 of 3 replicas (being copied)"],
      ["/a", 1, "0000000000000002", "no live replica"],
      ["/a", 2, "0000000000000003", "4 replicas, target 3"],
      ["/a", 3, "0000000000000004", "all 3 replicas in rack r1"],
      ["/a", 4, "0000000000000005", "every replica is damaged"],
      ["/snap/a", 0, "0000000000000001", "2 of 3 replicas (being copied)"],
    ]);
  });

  test("replicas on draining servers do not count: a chunk only there is under-replicated, not missing", () => {
    const r = audit([file("/a", [1, 2])], 0, view({ 2: ["r1", "r2", "r3"] }, { leaving: (h) => (h === 1 ? 1 : 1) }));
    expect(r).toMatchObject({ underReplicated: 1, missing: 0, overReplicated: 0 });
    expect(r.problems[0]!.problem).toBe("0 of 3 replicas outside draining servers");
  });

  test("one rack in the cluster is not a misplacement; a target of 1 is met by one replica", () => {
    expect(audit([file("/a", [1])], 0, view({ 1: ["r1", "r1", "r1"] }, { racks: 1 })).healthy).toBe(true);
    expect(audit([file("/a", [1], 1)], 0, view({ 1: ["r1"] })).healthy).toBe(true);
  });

  test("the list is bounded; the counts are not", () => {
    const chunks = Array.from({ length: MAX_PROBLEMS + 5 }, (_, i) => i + 1);
    const r = audit([file("/big", chunks)], 0, view({}));
    expect(r.missing).toBe(MAX_PROBLEMS + 5);
    expect(r.problems).toHaveLength(MAX_PROBLEMS);
    expect(r.problemsOmitted).toBe(5);
  });
});
