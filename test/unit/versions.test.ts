import { describe, expect, test } from "bun:test";
import { RaisedVersions, VersionByHandle, judgeReplica, nextVersion, staleFate, unwantedReplicas } from "../../core/master/versions";

describe("chunk version rules", () => {
  test("a replica behind the master is stale, at its version current", () => {
    expect(judgeReplica(5, 4, false)).toBe("stale");
    expect(judgeReplica(5, 1, true)).toBe("stale");
    expect(judgeReplica(5, 5, false)).toBe("current");
    expect(judgeReplica(5, 5, true)).toBe("current");
  });

  test("one version ahead is a change the last run made but did not log: current, until this run raises the version itself", () => {
    expect(judgeReplica(5, 6, false)).toBe("current");
    expect(judgeReplica(5, 6, true)).toBe("unexplained");
  });

  test("further ahead is never adopted (a flipped bit, forged metadata)", () => {
    expect(judgeReplica(1, 268435457, false)).toBe("unexplained");
    expect(judgeReplica(5, 7, false)).toBe("unexplained");
  });

  test("the first raise of a run skips the version an unlogged change may have used", () => {
    const raised = new RaisedVersions();
    expect(nextVersion(5, raised.has(9))).toBe(7);
    raised.add(9);
    expect(nextVersion(7, raised.has(9))).toBe(8);
    // A replica that took the unlogged version 6 is now behind.
    expect(judgeReplica(7, 6, raised.has(9))).toBe("stale");
  });

  test("the raised set holds large handles", () => {
    const raised = new RaisedVersions();
    for (const h of [1, 7, 8, 100_000, 5_000_003]) raised.add(h);
    for (const h of [1, 7, 8, 100_000, 5_000_003]) expect(raised.has(h)).toBe(true);
    for (const h of [2, 9, 99_999, 5_000_002]) expect(raised.has(h)).toBe(false);
  });
});

describe("chunk listings in heartbeats", () => {
  test("deleted chunks and replicas behind the current version are unwanted; chunks being created and current ones are kept", () => {
    const versions = new Map([[1, 5], [2, 5], [3, 5]]);
    const listed = [
      { handle: 1, version: 5 }, // current
      { handle: 2, version: 3 }, // left behind
      { handle: 3, version: 6 }, // one ahead, explained (not raised this run): kept
      { handle: 9, version: 1 }, // deleted
      { handle: 10, version: 1 }, // being created
    ];
    expect(unwantedReplicas(listed, (h) => versions.get(h) ?? 0, new Set([10]), () => false)).toEqual([2, 9]);
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
