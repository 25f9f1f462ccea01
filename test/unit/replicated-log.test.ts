// The HA log's key layout, batching and pruning choices, and the leader's
// term and a standby's read lag (pure parts of core/master/replicated-log.ts
// and leadership.ts).
import { describe, expect, test } from "bun:test";
import { LeaderTerm, ReadLag } from "../../core/master/leadership";
import { batchFirst, batchKey, decodeBatch, encodeBatch, prunableBatches, splitBatches } from "../../core/master/replicated-log";
import { initChecksums } from "../../core/checksums";
import { encodeRecord } from "../../core/master/records";
import type { Op } from "../../core/master/state";

await initChecksums();

describe("the replicated log's batches", () => {
  test("keys sort in log order and give back the first change", () => {
    const keys = [1, 9, 10, 123456789].map((n) => batchKey("/gfs", n));
    expect([...keys].sort()).toEqual(keys);
    expect(keys.map((k) => batchFirst("/gfs", k))).toEqual([1, 9, 10, 123456789]);
    expect(() => batchKey("/gfs", 0)).toThrow();
    expect(() => batchFirst("/gfs", "/gfs/log/abc")).toThrow();
  });

  test("a batch round-trips, and a damaged or misnumbered one is refused", () => {
    const ops: Op[] = [{ o: "mkdir", p: "/a", t: 1, q: 5 }, { o: "mkdir", p: "/a/b", t: 2, q: 6 }];
    const records = ops.map((op) => encodeRecord(op));
    const bytes = encodeBatch(records);
    const decoded = decodeBatch(5, bytes);
    expect(decoded.ops).toEqual(ops);
    // The second change's record starts right after the first's: a standby logs a batch's tail from there.
    expect(decoded.offsets).toEqual([0, records[0]!.byteLength]);
    expect(() => decodeBatch(4, bytes)).toThrow(/holds change 5/);
    const bad = bytes.slice();
    bad[bad.length - 1]! ^= 1;
    expect(() => decodeBatch(5, bad)).toThrow(/damaged/);
  });

  test("batches are cut at the size limit without splitting a change", () => {
    const recs = [100, 100, 100, 500, 10].map((n) => new Uint8Array(n));
    expect(splitBatches(recs, 250)).toEqual([2, 1, 1, 1]);
    expect(splitBatches([new Uint8Array(1000)], 250)).toEqual([1]);
    expect(splitBatches([], 250)).toEqual([]);
  });

  test("only batches wholly at or below every master's checkpoint are pruned, never the newest", () => {
    // Batches hold changes 1-4, 5-9, 10-19, 20-.
    expect(prunableBatches([1, 5, 10, 20], 3)).toEqual([]);
    expect(prunableBatches([1, 5, 10, 20], 4)).toEqual([1]);
    expect(prunableBatches([1, 5, 10, 20], 19)).toEqual([1, 5, 10]);
    expect(prunableBatches([1, 5, 10, 20], 1_000)).toEqual([1, 5, 10]);
    expect(prunableBatches([7], 1_000)).toEqual([]);
  });
});

describe("leadership", () => {
  test("a leader's term runs from the last answered keep-alive's sending plus the TTL, never backwards", () => {
    const t = new LeaderTerm(42, 5_000, 1_000);
    expect(t.valid(5_999)).toBe(true);
    expect(t.valid(6_000)).toBe(false);
    t.renewed(3_000);
    expect(t.valid(7_999)).toBe(true);
    t.renewed(2_000); // an older keep-alive answered late does not shorten it
    expect(t.remainingMs(7_000)).toBe(1_000);
  });

  test("a standby's lag: current as of a probe once it applied the batch the probe saw", () => {
    const lag = new ReadLag(0);
    expect(lag.lagMs(10_000)).toBe(10_000); // never caught up: not readable
    lag.mark(10_000, 50, 49); // etcd had batch 50 at 10 s; 49 applied
    expect(lag.lagMs(10_500)).toBe(10_500);
    lag.applied(60);
    expect(lag.lagMs(10_500)).toBe(500);
    lag.mark(11_000, 61, 61);
    expect(lag.lagMs(11_200)).toBe(200);
    lag.currentAsOf(9_000); // an older full read does not move it back
    expect(lag.lagMs(11_200)).toBe(200);
  });
});
