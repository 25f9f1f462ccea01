import { describe, expect, test } from "bun:test";
import { choosePlacement, orderNearest, type PlacementCandidate } from "../../core/master/placement";

const GB = 1e9;
const c = (id: string, rack: string, usedGB: number, recent = 0): PlacementCandidate => ({ id, rack, usedBytes: usedGB * GB, capacityBytes: 100 * GB, recentCreations: recent });

describe("placement", () => {
  test("prefers servers with below-average disk use", () => {
    const picks = choosePlacement([c("full", "r", 90), c("a", "r", 10), c("b", "r", 20), c("mid", "r", 40)], 2);
    expect(picks).toEqual(["a", "b"]);
  });

  test("spreads a chunk's replicas over racks", () => {
    const picks = choosePlacement([c("a1", "A", 1), c("a2", "A", 2), c("a3", "A", 3), c("b1", "B", 5)], 3);
    expect(picks.slice(0, 2).sort()).toEqual(["a1", "b1"]);
    expect(new Set(picks).size).toBe(3);
  });

  test("avoids flooding a server that just received many chunks", () => {
    const picks = choosePlacement([c("new", "r", 0, 50), c("x", "r", 1), c("y", "r", 1)], 2);
    expect(picks).toEqual(["x", "y"]);
  });

  test("returns fewer servers than asked when there are not enough, and honours exclusions", () => {
    expect(choosePlacement([c("a", "r", 1)], 3)).toEqual(["a"]);
    expect(choosePlacement([c("a", "r", 1), c("b", "r", 1)], 3, new Set(["a"]))).toEqual(["b"]);
    expect(choosePlacement([], 3)).toEqual([]);
  });

  test("never places a chunk on a server without room for a whole one", () => {
    const almostFull = { id: "nearly", rack: "B", usedBytes: 100 * GB - 1024, capacityBytes: 100 * GB, recentCreations: 0 };
    expect(choosePlacement([c("a", "A", 50), almostFull], 2, new Set(), 64 * 1024 * 1024)).toEqual(["a"]);
    expect(choosePlacement([almostFull], 1, new Set(), 1024)).toEqual(["nearly"]);
    // Not yet reported: counted as having room.
    expect(choosePlacement([{ ...almostFull, usedBytes: 0, capacityBytes: 0 }], 1, new Set(), 64 * 1024 * 1024)).toEqual(["nearly"]);
  });

  test("push chains go nearest first: same host, then same rack", () => {
    const reps = [
      { addr: "10.0.0.3:1", rack: "far" },
      { addr: "10.0.0.2:1", rack: "near" },
      { addr: "10.0.0.1:1", rack: "near" },
    ];
    expect(orderNearest(reps, "10.0.0.1", "near").map((r) => r.addr)).toEqual(["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"]);
  });
});
