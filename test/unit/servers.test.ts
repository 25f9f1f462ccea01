import { describe, expect, test } from "bun:test";
import { ServerRegistry } from "../../core/master/servers";

function registry(n: number): ServerRegistry {
  const r = new ServerRegistry();
  for (let i = 0; i < n; i++) r.upsert(`s${i}`, `h:${i}`, i % 2 ? "odd" : "even", 0);
  return r;
}

describe("chunk locations", () => {
  test("replicas are listed once each, beyond four slots too", () => {
    const r = registry(6);
    for (let i = 0; i < 6; i++) r.addLocation(9, `s${i}`);
    r.addLocation(9, "s5");
    expect(r.holders(9).sort()).toEqual(["s0", "s1", "s2", "s3", "s4", "s5"]);
    r.removeLocation(9, "s1");
    r.removeLocation(9, "s5");
    expect(r.holders(9).sort()).toEqual(["s0", "s2", "s3", "s4"]);
    expect(r.status(0).find((s) => s.id === "s0")!.chunks).toBe(1);
  });

  test("a dead server's replicas disappear, and it holds nothing when it registers again", () => {
    const r = registry(3);
    for (let h = 1; h <= 100; h++) for (const s of ["s0", "s1", "s2"]) r.addLocation(h, s);
    expect(r.markDead("s1").length).toBe(100);
    expect(r.replicaRefs(50).map((x) => x.id).sort()).toEqual(["s0", "s2"]);
    r.addLocation(50, "s1"); // dead servers gain no locations
    expect(r.holders(50)).not.toContain("s1");
    r.upsert("s1", "h:1", "odd", 1);
    r.addLocation(50, "s1");
    expect(r.holders(50).sort()).toEqual(["s0", "s1", "s2"]);
    expect(r.silent(5_001, 5_000.5).sort()).toEqual(["s0", "s2"]); // s1 was heard from at 1 ms
  });

  test("a deleted chunk is forgotten and every holder is told to discard it", () => {
    const r = registry(2);
    r.addLocation(4, "s0");
    r.addLocation(4, "s1");
    r.dropChunk(4);
    expect(r.holders(4)).toEqual([]);
    expect([...r.servers.get("s0")!.discard]).toEqual([4]);
    expect(r.status(0).every((s) => s.chunks === 0)).toBe(true);
  });
});
