import { describe, expect, test } from "bun:test";
import { HandleBits, VersionByHandle, judgeReplica, nextVersion, staleFate, unwantedReplicas } from "../../core/master/versions";

describe("chunk version rules", () => {
  test("a replica behind the master is stale, at its version current", () => {
    expect(judgeReplica(5, 4, 6)).toBe("stale");
    expect(judgeReplica(5, 1, 6)).toBe("stale");
    expect(judgeReplica(5, 5, 6)).toBe("current");
  });

  test("ahead of the master up to the ceiling is a raise not yet logged: current", () => {
    expect(judgeReplica(5, 6, 6)).toBe("current");
    // The ceiling is never below the version plus one.
    expect(judgeReplica(5, 6, 0)).toBe("current");
    // A run crashed in the first raise after a restart: it logged ceiling 7 before sending 7.
    expect(judgeReplica(5, 7, 7)).toBe("current");
    expect(judgeReplica(5, 6, 7)).toBe("current");
  });

  test("above the ceiling is never adopted (a flipped bit, forged metadata)", () => {
    expect(judgeReplica(1, 268435457, 2)).toBe("unexplained");
    expect(judgeReplica(5, 7, 6)).toBe("unexplained");
    expect(judgeReplica(5, 8, 7)).toBe("unexplained");
  });

  test("within a run, after a logged version, the next one is sent without logging first", () => {
    expect(nextVersion(5, 6, true)).toEqual({ version: 6, logCeiling: false });
  });

  test("the first raise of a run goes past the ceiling and logs it first", () => {
    expect(nextVersion(5, 6, false)).toEqual({ version: 7, logCeiling: true });
    // Crashed again in that raise: the next run goes past 7.
    expect(nextVersion(5, 7, false)).toEqual({ version: 8, logCeiling: true });
    expect(nextVersion(5, 7, true)).toEqual({ version: 8, logCeiling: true });
  });

  test("no version a crashed run may have sent is reused, and each is recognized, over any sequence of raises and crashes", () => {
    // A model of the master: logged version and ceiling survive a crash; the in-run bits do not.
    let seed = 42;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    for (let trial = 0; trial < 200; trial++) {
      let logged = 2;
      let ceiling = 3;
      let unsent = true;
      const sent = new Set<number>([2]);
      for (let step = 0; step < 30; step++) {
        if (rand(4) === 0) {
          unsent = false; // a restart
          continue;
        }
        const { version, logCeiling } = nextVersion(logged, ceiling, unsent);
        if (logCeiling) ceiling = version;
        expect(version).toBeLessThanOrEqual(Math.max(ceiling, logged + 1));
        expect(sent.has(version)).toBe(false);
        sent.add(version);
        unsent = false;
        if (rand(3) === 0) continue; // crashed before logging the version
        logged = version;
        ceiling = Math.max(ceiling, logged + 1);
        unsent = true;
      }
      // Every version ever sent and not logged holds the logged version's bytes: recognized as current, never as a lease's.
      for (const v of sent) {
        if (v > logged) expect(judgeReplica(logged, v, ceiling)).toBe("current");
        if (v < logged) expect(judgeReplica(logged, v, ceiling)).toBe("stale");
      }
    }
  });

  test("the handle bits hold large handles", () => {
    const bits = new HandleBits();
    for (const h of [1, 7, 8, 100_000, 5_000_003]) bits.add(h);
    for (const h of [1, 7, 8, 100_000, 5_000_003]) expect(bits.has(h)).toBe(true);
    for (const h of [2, 9, 99_999, 5_000_002]) expect(bits.has(h)).toBe(false);
    bits.delete(8);
    expect([bits.has(7), bits.has(8)]).toEqual([true, false]);
  });
});

describe("chunk listings in heartbeats", () => {
  test("deleted chunks and replicas behind the current version are unwanted; chunks being created and current ones are kept", () => {
    const versions = new Map([[1, 5], [2, 5], [3, 5]]);
    const listed = [
      { handle: 1, version: 5 }, // current
      { handle: 2, version: 3 }, // left behind
      { handle: 3, version: 6 }, // one ahead, under the ceiling: kept
      { handle: 9, version: 1 }, // deleted
      { handle: 10, version: 1 }, // being created
    ];
    expect(unwantedReplicas(listed, (h) => versions.get(h) ?? 0, new Set([10]), (h) => (versions.get(h) ?? 0) + 1)).toEqual([2, 9]);
  });
});

describe("a replica behind the master's version", () => {
  test("is deleted while the chunk has its target of live current replicas", () => {
    expect(staleFate(3, 3, 4, 4, 100, 100)).toBe("discard");
  });
  test("is deleted while a current one is live, if it cannot be trusted", () => {
    expect(staleFate(1, 3, 3, 4, 100, 100)).toBe("discard"); // a lease (mutations) after its version
    expect(staleFate(2, 3, 4, undefined, 100, 100)).toBe("discard"); // unknown history (a master restart)
  });
  test("is adopted below the target, if nothing changed since its version and it holds every acknowledged byte: a live one may be damaged unread", () => {
    expect(staleFate(0, 3, 4, 4, 100, 100)).toBe("adopt");
    expect(staleFate(0, 3, 5, 4, 120, 100)).toBe("adopt");
    expect(staleFate(1, 3, 4, 4, 100, 100)).toBe("adopt");
    expect(staleFate(2, 3, 4, 4, 100, 100)).toBe("adopt");
  });
  test("is kept on its disk, unlisted, when it may be the last copy but cannot be trusted", () => {
    expect(staleFate(0, 3, 3, 4, 100, 100)).toBe("keep"); // a lease (mutations) after its version
    expect(staleFate(0, 3, 4, 4, 90, 100)).toBe("keep"); // shorter than what was acknowledged
    expect(staleFate(0, 3, 4, undefined, 100, 100)).toBe("keep"); // unknown history (a master restart)
  });
  test("versions by handle: 4 bytes a handle, absent until set", () => {
    const v = new VersionByHandle();
    expect(v.get(7)).toBeUndefined();
    v.set(7, 0);
    v.set(5000, 12);
    expect([v.get(7), v.get(5000), v.has(6)]).toEqual([0, 12, false]);
    v.delete(7);
    expect(v.has(7)).toBe(false);
  });
});
