// When the next group-commit batch is written (core/master/batch-gathering.ts).
import { describe, expect, test } from "bun:test";
import { BatchGathering, GATHER_MS } from "../../core/master/batch-gathering";

describe("batch gathering", () => {
  test("after a write, the next batch waits for the clients just acknowledged, as many as there were", () => {
    const g = new BatchGathering();
    // 4 changes written while 4 others waited: 8 clients are active.
    g.written(4, 4, 1000);
    expect(g.waitMs(4, 1000)).toBe(GATHER_MS);
    expect(g.waitMs(7, 1000.5)).toBeCloseTo(GATHER_MS - 0.5);
    // All 8 back: write at once.
    expect(g.waitMs(8, 1000.2)).toBe(0);
    expect(g.waitMs(9, 1000.2)).toBe(0);
  });

  test("the wait is bounded: a client that does not come back costs one wait, then the target is what came", () => {
    const g = new BatchGathering();
    g.written(8, 0, 1000);
    expect(g.waitMs(7, 1000 + GATHER_MS)).toBe(0);
    g.written(7, 0, 1002);
    expect(g.waitMs(7, 1002.1)).toBe(0);
  });

  test("a lone client never waits, nor does a client that comes back after the wait would have ended", () => {
    const g = new BatchGathering();
    expect(g.waitMs(1, 0)).toBe(0);
    g.written(1, 0, 1000);
    expect(g.waitMs(1, 1000.1)).toBe(0);
    g.written(8, 0, 2000);
    expect(g.waitMs(1, 2000 + GATHER_MS + 0.1)).toBe(0);
  });
});
