import { describe, expect, test } from "bun:test";
import { Priority, imbalancePct, planClones, planRebalance, planSurplus, projectUse, repairPriority, type ChunkHealth, type Clone, type RebalanceChunk } from "../../core/master/re-replication";
import type { PlacementCandidate } from "../../core/master/placement";

const GB = 1e9;
const MiB = 1024 * 1024;
const server = (id: string, rack: string, usedGB = 10, recent = 0): PlacementCandidate => ({ id, rack, usedBytes: usedGB * GB, capacityBytes: 100 * GB, recentCreations: recent });
const five = [server("a", "r1"), server("b", "r1"), server("c", "r2"), server("d", "r2"), server("e", "r3")];
const rackOf = (id: string) => five.find((s) => s.id === id)?.rack;
const wide = { maxClones: 100, maxPerServer: 100 };

describe("re-replication priority", () => {
  test("one replica left, then more than a third missing, then the rest, then one-rack chunks", () => {
    const p = (holders: string[], target = 3, extra: Partial<ChunkHealth> = {}) => repairPriority({ handle: 1, target, holders, ...extra }, rackOf, 3);
    expect(p(["a"])).toBe(Priority.ONE_LEFT);
    expect(p(["a", "c"], 6)).toBe(Priority.MISSING_A_THIRD); // 4 of 6 missing
    expect(p(["a", "c"])).toBe(Priority.UNDER); // 1 of 3 missing: not more than a third
    expect(p(["a", "b", "c"], 6)).toBe(Priority.MISSING_A_THIRD);
    expect(p(["a", "b", "c", "d"], 6)).toBe(Priority.UNDER);
    expect(p(["a", "b"], 2)).toBe(Priority.ONE_RACK);
    expect(p(["a", "c", "e"])).toBeNull();
    expect(p(["a", "b", "c", "d"])).toBeNull(); // surplus is planSurplus's
    expect(p([])).toBeNull(); // nothing to copy from
    expect(p(["a"], 1)).toBeNull();
    expect(p(["a", "c"], 3, { wanted: true })).toBe(Priority.WANTED);
    // One rack in the whole cluster: nothing better is possible.
    expect(repairPriority({ handle: 1, target: 2, holders: ["a", "b"] }, () => "r1", 1)).toBeNull();
  });

  test("clones go most urgent first, live files before deleted ones, and stop at the cluster-wide limit", () => {
    const chunks: ChunkHealth[] = [
      { handle: 1, target: 3, holders: ["a", "c"] },
      { handle: 2, target: 3, holders: ["a"], deleted: true },
      { handle: 3, target: 3, holders: ["c"] },
      { handle: 4, target: 2, holders: ["a", "b"] },
      { handle: 5, target: 3, holders: ["a", "c", "e"] },
    ];
    expect(planClones(chunks, five, [], wide, MiB).map((c) => [c.handle, c.priority])).toEqual([
      [3, Priority.ONE_LEFT],
      [2, Priority.ONE_LEFT],
      [1, Priority.UNDER],
      [4, Priority.ONE_RACK],
    ]);
    expect(planClones(chunks, five, [], { maxClones: 2, maxPerServer: 100 }, MiB).map((c) => c.handle)).toEqual([3, 2]);
    const underWay: Clone[] = [{ handle: 3, from: "c", to: "a", priority: Priority.ONE_LEFT }];
    expect(planClones(chunks, five, underWay, { maxClones: 2, maxPerServer: 100 }, MiB).map((c) => c.handle)).toEqual([2]);
  });

  test("per-server limits count a server as source and as destination; a chunk that cannot go now does not block the others", () => {
    const chunks: ChunkHealth[] = [
      { handle: 1, target: 3, holders: ["a"] },
      { handle: 2, target: 3, holders: ["a"] },
      { handle: 3, target: 3, holders: ["c", "e"] },
    ];
    const plan = planClones(chunks, five, [], { maxClones: 10, maxPerServer: 1 }, MiB);
    // "a" can serve one clone; chunk 2 waits; chunk 3 goes on between other servers.
    expect(plan.map((c) => c.handle)).toEqual([1, 3]);
    const load = new Map<string, number>();
    for (const c of plan) for (const id of [c.from, c.to]) load.set(id, (load.get(id) ?? 0) + 1);
    expect(Math.max(...load.values())).toBe(1);
  });

  test("destinations: a rack the chunk is not in, never a holder, never a full disk; one-rack chunks only to another rack", () => {
    const [c] = planClones([{ handle: 1, target: 3, holders: ["a", "b"] }], five, [], wide, MiB);
    expect(["c", "d", "e"]).toContain(c!.to);
    const full = [server("a", "r1"), server("b", "r1"), { ...server("c", "r2"), usedBytes: 100 * GB }];
    expect(planClones([{ handle: 1, target: 3, holders: ["a", "b"] }], full, [], wide, MiB)).toEqual([]);
    const oneRackOnly = [server("a", "r1"), server("b", "r1"), server("x", "r1"), { ...server("c", "r2"), usedBytes: 100 * GB }];
    expect(planClones([{ handle: 1, target: 2, holders: ["a", "b"] }], oneRackOnly, [], wide, MiB)).toEqual([]);
    // Among equals, the emptier disk.
    const [d] = planClones([{ handle: 1, target: 3, holders: ["a", "c"] }], [server("a", "r1"), server("c", "r2"), server("e", "r3", 50), server("f", "r3", 5)], [], wide, MiB);
    expect(d!.to).toBe("f");
  });

  test("a chunk already being cloned is not planned twice; sources are the least busy holder", () => {
    const underWay: Clone[] = [{ handle: 9, from: "a", to: "d", priority: Priority.UNDER }];
    const [c] = planClones([{ handle: 1, target: 3, holders: ["a", "c"] }, { handle: 9, target: 3, holders: ["a", "b"] }], five, underWay, wide, MiB);
    expect(c!.handle).toBe(1);
    expect(c!.from).toBe("c");
  });
});

describe("draining", () => {
  test("a draining server's replicas do not count: copied from it, never to it, never trimmed", () => {
    // "a" drains; only it holds chunk 1, "a" and "c" hold chunk 2.
    const servers = [{ ...five[0]!, draining: true }, ...five.slice(1)];
    const chunks: ChunkHealth[] = [
      { handle: 1, target: 3, holders: [], leaving: ["a"] },
      { handle: 2, target: 3, holders: ["c", "e"], leaving: ["a"] },
      { handle: 3, target: 2, holders: ["b", "c"], leaving: [] },
    ];
    const plan = planClones(chunks, servers, [], wide, MiB);
    expect(plan.map((c) => [c.handle, c.priority])).toEqual([[1, Priority.ONE_LEFT], [2, Priority.UNDER]]);
    expect(plan[0]!.from).toBe("a");
    for (const c of plan) expect(c.to).not.toBe("a");
    expect(planSurplus([{ handle: 2, target: 3, holders: ["b", "c", "e"], leaving: ["a"] }], five)).toEqual([]);
  });
});

describe("surplus replicas", () => {
  test("removed from the most crowded rack, fullest disk first, never under a live lease", () => {
    const servers = [server("a", "r1", 10), server("b", "r1", 20), server("c", "r2"), server("e", "r3")];
    expect(planSurplus([{ handle: 1, target: 3, holders: ["a", "b", "c", "e"] }], servers)).toEqual([{ handle: 1, server: "b" }]);
    expect(planSurplus([{ handle: 1, target: 1, holders: ["a", "b", "c"] }], servers)).toEqual([{ handle: 1, server: "b" }, { handle: 1, server: "c" }]);
    expect(planSurplus([{ handle: 1, target: 3, holders: ["a", "b", "c", "e"], leased: true }], servers)).toEqual([]);
    expect(planSurplus([{ handle: 1, target: 3, holders: ["a", "b", "c"] }], servers)).toEqual([]);
  });
});

describe("rebalancing", () => {
  const cap = 100 * MiB;
  const srv = (id: string, rack: string, usedMiB: number): PlacementCandidate => ({ id, rack, usedBytes: usedMiB * MiB, capacityBytes: cap, recentCreations: 0 });

  test("fills an empty server from the fullest ones until all are within the threshold, without overshooting", () => {
    const servers = [srv("a", "r1", 60), srv("b", "r2", 60), srv("c", "r3", 60), srv("new", "r4", 0)];
    // Every chunk of 10 MiB on a, b and c (three replicas).
    const chunks: RebalanceChunk[] = Array.from({ length: 6 }, (_, i) => ({ handle: i + 1, sizeBytes: 10 * MiB, holders: ["a", "b", "c"] }));
    const plan = planRebalance(servers, (id) => chunks.filter((c) => c.holders.includes(id)), 10, 100);
    expect(imbalancePct(servers)).toBeCloseTo(45, 5);
    // Average 45%: "new" may take up to 45 MiB without passing it; sources stop within 10 points of it.
    expect(plan.every((m) => m.to === "new")).toBe(true);
    expect(new Set(plan.map((m) => m.handle)).size).toBe(plan.length); // one move per chunk
    const after = servers.map((s) => ({ ...s, usedBytes: s.usedBytes + (plan.filter((m) => m.to === s.id).length - plan.filter((m) => m.from === s.id).length) * 10 * MiB }));
    expect(imbalancePct(after)).toBeLessThanOrEqual(15.0001);
    expect(plan.length).toBeGreaterThanOrEqual(3);
    expect(planRebalance(after, () => [], 10, 100)).toEqual([]);
  });

  test("a server below the threshold takes from servers above the average even when none is above the threshold", () => {
    // 4 servers at 56% and a new one at 0%: the average is 45%, nobody is above 55%, the new one is far below 35%.
    const servers = [srv("a", "r1", 56), srv("b", "r2", 56), srv("c", "r3", 56), srv("d", "r1", 56), srv("new", "r2", 0)];
    const chunks: RebalanceChunk[] = [];
    for (let i = 0; i < 56; i++) chunks.push({ handle: i + 1, sizeBytes: 4 * MiB, holders: [["a", "b", "c"], ["b", "c", "d"], ["c", "d", "a"], ["d", "a", "b"]][i % 4]! });
    const plan = planRebalance(servers, (id) => chunks.filter((c) => c.holders.includes(id)), 10, 1000);
    const after = servers.map((s) => ({ ...s, usedBytes: s.usedBytes + (plan.filter((m) => m.to === s.id).length - plan.filter((m) => m.from === s.id).length) * 4 * MiB }));
    expect(imbalancePct(after)).toBeLessThanOrEqual(10);
    expect(plan.every((m) => m.to === "new")).toBe(true);
  });

  test("a move never lowers the racks a chunk spans, never lands on a holder, respects the limit and chunks busy elsewhere", () => {
    const servers = [srv("a", "r1", 90), srv("b", "r2", 10), srv("c", "r1", 10), srv("d", "r3", 50)];
    // Chunk 1 on a (r1) and b (r2): moving it to c (r1) keeps r1 and r2; to d (r3) keeps two racks too.
    // Chunk 2 on a (r1) and c (r1): moving it to b (r2) adds a rack; fine.
    const chunks: RebalanceChunk[] = [
      { handle: 1, sizeBytes: 20 * MiB, holders: ["a", "b"] },
      { handle: 2, sizeBytes: 20 * MiB, holders: ["a", "c"] },
      { handle: 3, sizeBytes: 20 * MiB, holders: ["a", "d"] },
    ];
    const plan = planRebalance(servers, (id) => chunks.filter((c) => c.holders.includes(id)), 10, 100);
    for (const m of plan) {
      const c = chunks.find((x) => x.handle === m.handle)!;
      expect(c.holders).not.toContain(m.to);
      const before = new Set(c.holders.map((h) => servers.find((s) => s.id === h)!.rack)).size;
      const after = new Set([...c.holders.filter((h) => h !== m.from), m.to].map((h) => servers.find((s) => s.id === h)!.rack)).size;
      expect(after).toBeGreaterThanOrEqual(before);
    }
    expect(planRebalance(servers, (id) => chunks.filter((c) => c.holders.includes(id)), 10, 1)).toHaveLength(1);
    expect(planRebalance(servers, (id) => chunks.filter((c) => c.holders.includes(id)), 10, 100, new Set([1, 2, 3]))).toEqual([]);
  });

  test("moves under way or not yet reported count in the plan: planned one at a time, the fill stops where a whole plan would", () => {
    const servers = [srv("a", "r1", 60), srv("b", "r2", 60), srv("c", "r3", 60), srv("new", "r4", 0)];
    const chunks: RebalanceChunk[] = Array.from({ length: 6 }, (_, i) => ({ handle: i + 1, sizeBytes: 10 * MiB, holders: ["a", "b", "c"] }));
    const whole = planRebalance(servers, (id) => chunks.filter((c) => c.holders.includes(id)), 10, 100);
    // Moves started one by one, each planned with the ones before it counted but not yet reported.
    const changes: { server: string; bytes: number }[] = [];
    const started: number[] = [];
    for (;;) {
      const [m] = planRebalance(projectUse(servers, changes), (id) => chunks.filter((c) => c.holders.includes(id)), 10, 1, new Set(started));
      if (!m) break;
      started.push(m.handle);
      changes.push({ server: m.to, bytes: 10 * MiB }, { server: m.from, bytes: -10 * MiB });
    }
    expect(started).toHaveLength(whole.length);
    expect(imbalancePct(projectUse(servers, changes))).toBeLessThanOrEqual(15.0001);
    // Without the projection, the same server would be given every chunk.
    expect(planRebalance(servers, (id) => chunks.filter((c) => c.holders.includes(id)), 10, 100, new Set(started.slice(0, 1)))).toHaveLength(whole.length);
    expect(projectUse([srv("x", "r1", 5)], [{ server: "x", bytes: -10 * MiB }])[0]!.usedBytes).toBe(0);
  });
});
