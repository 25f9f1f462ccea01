import { describe, expect, test } from "bun:test";
import { abandonedUploads, expiredEntries, newestFirst, parseStamp, reclaimedAtOnce, trashPathFor } from "../../core/master/trash";

describe("trash and garbage collection decisions", () => {
  test("a removed path keeps its whole path under a stamp of its removal time", () => {
    expect(trashPathFor("/logs/a", 1700000000123, 0)).toBe("/.trash/1700000000123-0/logs/a");
    expect(parseStamp("1700000000123-4")).toBe(1700000000123);
    expect(parseStamp("notes")).toBeNull();
  });

  test("what is in the trash or an upload is erased at once, as is everything without a TTL", () => {
    expect(reclaimedAtOnce("/a", 1000)).toBe(false);
    expect(reclaimedAtOnce("/.trash/1-0/a", 1000)).toBe(true);
    expect(reclaimedAtOnce("/.trash", 1000)).toBe(true);
    expect(reclaimedAtOnce("/.put/x.abc", 1000)).toBe(true);
    expect(reclaimedAtOnce("/.trashy", 1000)).toBe(false);
    expect(reclaimedAtOnce("/a", 0)).toBe(true);
  });

  test("entries past the TTL go, oldest first, at most a limit a sweep; names the trash did not make count as old", () => {
    const names = ["5000-0", "1000-1", "1000-0", "9000-0", "stray"];
    expect(expiredEntries(names, 10_000, 4_000, 10)).toEqual(["stray", "1000-0", "1000-1", "5000-0"]);
    expect(expiredEntries(names, 10_000, 4_000, 2)).toEqual(["stray", "1000-0"]);
    expect(expiredEntries(names, 1_500, 4_000, 10)).toEqual(["stray"]);
  });

  test("undelete looks at the newest removal first", () => {
    expect(newestFirst(["1000-0", "3000-0", "stray", "3000-1", "2000-0"])).toEqual(["3000-1", "3000-0", "2000-0", "1000-0"]);
  });

  test("uploads untouched for the timeout are abandoned", () => {
    const ups = [{ path: "/.put/a", lastActiveMs: 1000 }, { path: "/.put/b", lastActiveMs: 9000 }];
    expect(abandonedUploads(ups, 10_000, 5_000)).toEqual(["/.put/a"]);
  });
});
