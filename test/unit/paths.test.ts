import { describe, expect, test } from "bun:test";
import { normalizePath, splitPath } from "../../core/master/paths";

describe("paths", () => {
  test("accepts absolute paths and normalises a trailing slash", () => {
    expect(splitPath("/")).toEqual([]);
    expect(splitPath("/a/b")).toEqual(["a", "b"]);
    expect(normalizePath("/a/b/")).toBe("/a/b");
  });

  test.each([
    ["a/b", /must be absolute/],
    ["/a//b", /empty component/],
    ["/a/../b", /may not contain '\.\.'/],
    ["/a/./b", /may not contain '\.'/],
    ["/a\0b", /NUL/],
    ["/" + "x".repeat(256), /longer than 255/],
    ["/" + "a/".repeat(2100), /longer than 4096/],
  ])("refuses %p", (p, why) => {
    expect(() => splitPath(p)).toThrow(why);
  });
});
