import { describe, expect, test } from "bun:test";
import { NamespaceLocks, ancestorsOf, lockPlan } from "../../core/master/locks";

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("namespace locks", () => {
  test("plans: read locks on ancestors, the wanted lock on the leaf, in depth-then-name order", () => {
    expect(ancestorsOf("/a/b/c")).toEqual(["/", "/a", "/a/b"]);
    expect(lockPlan(["/home/user/foo"], "write")).toEqual([
      { path: "/", mode: "read" },
      { path: "/home", mode: "read" },
      { path: "/home/user", mode: "read" },
      { path: "/home/user/foo", mode: "write" },
    ]);
    expect(lockPlan(["/save/user", "/home/user"], "write").map((r) => `${r.mode}:${r.path}`)).toEqual([
      "read:/", "read:/home", "read:/save", "write:/home/user", "write:/save/user",
    ]);
  });

  test("two creates in one directory hold their locks at the same time", async () => {
    const locks = new NamespaceLocks();
    const a = await locks.acquire(lockPlan(["/d/a"], "write"));
    const b = await locks.acquire(lockPlan(["/d/b"], "write"));
    a();
    b();
    expect(locks.size).toBe(0);
  });

  test("a snapshot of /home/user waits for a create in it, and a later create waits for the snapshot", async () => {
    const locks = new NamespaceLocks();
    const events: string[] = [];
    const create1 = await locks.acquire(lockPlan(["/home/user/foo"], "write"));
    const snap = locks.acquire(lockPlan(["/home/user", "/save/user"], "write")).then((rel) => {
      events.push("snapshot");
      return rel;
    });
    await tick();
    const create2 = locks.acquire(lockPlan(["/home/user/bar"], "write")).then((rel) => {
      events.push("create2");
      return rel;
    });
    await tick();
    expect(events).toEqual([]);
    create1();
    const releaseSnap = await snap;
    await tick();
    expect(events).toEqual(["snapshot"]);
    releaseSnap();
    (await create2)();
    expect(events).toEqual(["snapshot", "create2"]);
    expect(locks.size).toBe(0);
  });

  test("operations on crossing paths never deadlock", async () => {
    const locks = new NamespaceLocks();
    const ops = Array.from({ length: 200 }, (_, i) => {
      const paths = i % 2 ? ["/x/a", "/y/b"] : ["/y/b", "/x/a"];
      return locks.acquire(lockPlan(paths, i % 3 ? "write" : "read")).then(async (release) => {
        await tick();
        release();
      });
    });
    await Promise.all(ops);
    expect(locks.size).toBe(0);
  });
});
