import { describe, expect, test } from "bun:test";
import { LeaseTable } from "../../core/master/leases";

describe("lease table", () => {
  test("a lease lasts leaseMs, is extended only for its primary, and expires", () => {
    const t = new LeaseTable(1000);
    t.grant(1, "a", 2, 0);
    expect(t.current(1, 999)?.primary).toBe("a");
    expect(t.extend(1, "b", 500)).toBe(false);
    expect(t.extend(1, "a", 500)).toBe(true);
    expect(t.current(1, 1499)?.primary).toBe("a");
    expect(t.current(1, 1500)).toBeUndefined();
  });

  test("a dead primary loses all its leases", () => {
    const t = new LeaseTable(1000);
    t.grant(1, "a", 1, 0);
    t.grant(2, "b", 1, 0);
    t.grant(3, "a", 1, 0);
    expect(t.dropServer("a").sort()).toEqual([1, 3]);
    expect(t.size).toBe(1);
  });
});
