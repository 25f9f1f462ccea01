import { describe, expect, test } from "bun:test";
import { InlineHeld } from "../../core/chunkserver/inline-held";
import { ErrorCode, GfsError } from "../../net/errors";

describe("inline append bytes held per connection", () => {
  test("a connection past its bound is refused (retryable) until its appends in progress end; others are not", async () => {
    const held = new InlineHeld(100);
    const a = {};
    const b = {};
    let finish!: () => void;
    const slow = new Promise<void>((r) => (finish = r));
    const first = held.hold(a, 60, () => slow.then(() => "first"));
    expect(held.bytesOf(a)).toBe(60);
    const refused = await held.hold(a, 60, async () => "second").catch((e) => e);
    expect(refused).toBeInstanceOf(GfsError);
    expect(refused.code).toBe(ErrorCode.UNAVAILABLE);
    expect(refused.retryable).toBe(true);
    expect(await held.hold(b, 60, async () => "other connection")).toBe("other connection");
    finish();
    expect(await first).toBe("first");
    expect(held.bytesOf(a)).toBe(0);
    expect(await held.hold(a, 60, async () => "after")).toBe("after");
  });

  test("one request alone is never refused, and a failing one gives its bytes back", async () => {
    const held = new InlineHeld(10);
    expect(await held.hold({}, 50, async () => 1)).toBe(1);
    const p = {};
    await held.hold(p, 8, async () => {
      throw new Error("disk");
    }).catch(() => {});
    expect(held.bytesOf(p)).toBe(0);
  });
});
