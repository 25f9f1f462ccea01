import { describe, expect, test } from "bun:test";
import { leaseTokenValid, signLease, tokenKey } from "../../core/lease-tokens";

describe("lease tokens", () => {
  const terms = { handle: 42, version: 7, primary: "cs-a", secondaries: ["cs-b", "cs-c"] };

  test("a token checks out only for the exact terms it was signed for, with the same key", () => {
    const key = tokenKey(new TextEncoder().encode("secret"));
    const token = signLease(key, terms);
    expect(leaseTokenValid(key, terms, token)).toBe(true);
    expect(leaseTokenValid(key, { ...terms, version: 8 }, token)).toBe(false);
    expect(leaseTokenValid(key, { ...terms, handle: 43 }, token)).toBe(false);
    expect(leaseTokenValid(key, { ...terms, primary: "cs-b" }, token)).toBe(false);
    expect(leaseTokenValid(key, { ...terms, secondaries: ["cs-b", "cs-x"] }, token)).toBe(false);
    expect(leaseTokenValid(tokenKey(new TextEncoder().encode("other")), terms, token)).toBe(false);
    expect(leaseTokenValid(key, terms, token.subarray(0, 8))).toBe(false);
    expect(leaseTokenValid(key, terms, "not bytes")).toBe(false);
  });

  test("the same secret gives the same key on every daemon; no secret gives a random one", () => {
    const s = new TextEncoder().encode("s");
    expect(Buffer.compare(tokenKey(s), tokenKey(s))).toBe(0);
    expect(Buffer.compare(tokenKey(null), tokenKey(null))).not.toBe(0);
  });
});
