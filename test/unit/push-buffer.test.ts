import { describe, expect, test } from "bun:test";
import { PushBuffer } from "../../core/chunkserver/push-buffer";

describe("push buffer", () => {
  test("collects pieces and hands the data over once complete", () => {
    const b = new PushBuffer(100, 1000);
    b.begin("a", 5, 0);
    expect(b.add("a", new Uint8Array([1, 2]), 1)).toBe(false);
    expect(() => b.take("a")).toThrow(/not here/);
    expect(b.add("a", new Uint8Array([3, 4, 5]), 2)).toBe(true);
    expect([...b.take("a").data]).toEqual([1, 2, 3, 4, 5]);
    expect(b.usedBytes).toBe(0);
  });

  test("a push that does not fit drops least recently used complete data, never incomplete", () => {
    const b = new PushBuffer(10, 1000);
    b.begin("old", 4, 0);
    b.add("old", new Uint8Array(4), 0);
    b.begin("busy", 4, 1);
    b.begin("new", 4, 2);
    expect(b.has("old")).toBe(false);
    expect(b.has("busy")).toBe(true);
    expect(() => b.begin("more", 4, 3)).toThrow(/push buffer is full/);
  });

  test("data unused for too long ages out", () => {
    const b = new PushBuffer(100, 50);
    b.begin("a", 1, 0);
    b.expire(100);
    expect(b.has("a")).toBe(false);
    expect(() => b.add("a", new Uint8Array(1), 100)).toThrow(/not announced or was dropped/);
  });

  test("more bytes than announced are refused", () => {
    const b = new PushBuffer(100, 50);
    b.begin("a", 1, 0);
    expect(() => b.add("a", new Uint8Array(2), 0)).toThrow(/longer than announced/);
  });
});
