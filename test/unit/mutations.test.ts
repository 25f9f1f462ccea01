import { describe, expect, test } from "bun:test";
import { MutationOrder, leaseMarginMs } from "../../core/chunkserver/mutations";

const sec = [{ id: "b", addr: "h:2", rack: "r" }];

describe("primary and secondary ordering", () => {
  test("a primary hands out consecutive serials while its lease lasts", () => {
    const m = new MutationOrder();
    m.grantLease(1, 4, 10_000, sec, 0);
    expect(m.beginPrimary(1, 4, 1).serial).toBe(1);
    expect(m.beginPrimary(1, 4, 2).serial).toBe(2);
    expect(() => m.beginPrimary(1, 3, 3)).toThrow(/version 4/);
    expect(() => m.beginPrimary(1, 4, 10_000 - leaseMarginMs(10_000))).toThrow(/not the primary/);
  });

  test("a version change ends the lease and restarts serial checking", () => {
    const m = new MutationOrder();
    m.grantLease(1, 4, 10_000, sec, 0);
    m.versionChanged(1, 5);
    expect(() => m.beginPrimary(1, 5, 1)).toThrow(/not the primary/);
  });

  test("a pad that failed does not close the chunk: the next append decides again, after any write", () => {
    const m = new MutationOrder();
    m.grantLease(1, 2, 10_000, sec, 0, 900);
    const pad = m.decideAppend(1, 2, 200, 1000, 1);
    expect(pad).toMatchObject({ kind: "pad", offset: 900, padBytes: 100 });
    expect(m.decideAppend(1, 2, 10, 1000, 2)).toEqual({ kind: "full" });
    m.padFailed(1, 2, 900);
    expect(m.decideAppend(1, 2, 50, 1000, 3)).toMatchObject({ kind: "append", offset: 900 });
    expect(m.decideAppend(1, 2, 200, 1000, 4)).toMatchObject({ kind: "pad", offset: 950 });
    m.beginPrimary(1, 2, 5, 980); // a write up to 980 meanwhile
    m.padFailed(1, 2, 950);
    expect(m.decideAppend(1, 2, 10, 1000, 6)).toMatchObject({ kind: "append", offset: 980 });
    // A pad that succeeded stays: the chunk is full.
    expect(m.decideAppend(1, 2, 200, 1000, 7)).toMatchObject({ kind: "pad", offset: 990 });
    expect(m.decideAppend(1, 2, 1, 1000, 8)).toEqual({ kind: "full" });
    // A failure reported under another version changes nothing.
    m.padFailed(1, 1, 990);
    expect(m.decideAppend(1, 2, 1, 1000, 9)).toEqual({ kind: "full" });
  });

  test("a secondary accepts increasing serials with gaps, and refuses going back", () => {
    const m = new MutationOrder();
    m.acceptSerial(1, 2, 1);
    m.acceptSerial(1, 2, 3);
    expect(() => m.acceptSerial(1, 2, 3)).toThrow(/arrived after 3/);
    expect(() => m.acceptSerial(1, 2, 2)).toThrow(/arrived after 3/);
    m.acceptSerial(1, 3, 1); // a new version starts a new sequence
  });

  test("leases with writes are listed for extension once, or for as long as a write is in flight", () => {
    const m = new MutationOrder();
    m.grantLease(1, 1, 10_000, [], 0);
    m.grantLease(2, 1, 10_000, [], 0);
    m.beginPrimary(2, 1, 1);
    expect(m.takeActive()).toEqual([2]);
    expect(m.takeActive()).toEqual([2]); // still in flight (a slow link)
    m.settled(2, 1);
    expect(m.takeActive()).toEqual([]);
  });
});
