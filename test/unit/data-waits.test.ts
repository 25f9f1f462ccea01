import { describe, expect, test } from "bun:test";
import { DataWaits } from "../../core/chunkserver/data-waits";
import { PushBuffer } from "../../core/chunkserver/push-buffer";

function setup(announceMs = 10_000) {
  const buffer = new PushBuffer(1000, 60_000);
  return { buffer, waits: new DataWaits(buffer, announceMs) };
}

describe("mutations waiting for their pushed data", () => {
  test("data already here is handed over at once", async () => {
    const { buffer, waits } = setup();
    buffer.begin("d", 2, 0);
    buffer.add("d", new Uint8Array([7, 8]), 0);
    expect([...(await waits.get("d", 2, 1, 1)).data]).toEqual([7, 8]);
    expect(buffer.has("d")).toBe(false);
  });

  test("a mutation that arrives first gets the data when its push completes", async () => {
    const { buffer, waits } = setup();
    const got = waits.get("d", 3, 1, 1);
    buffer.begin("d", 3, 0);
    buffer.add("d", new Uint8Array([1]), 0);
    waits.arrived("x"); // another push: nothing happens
    buffer.add("d", new Uint8Array([2, 3]), 0);
    waits.arrived("d");
    expect([...(await got).data]).toEqual([1, 2, 3]);
    expect(waits.size).toBe(0);
  });

  test("a failed push fails its mutation, also one that asks after the failure", async () => {
    const { waits } = setup();
    const early = waits.get("d", 3, 1, 1);
    waits.pushFailed("d", new Error("upstream went away"));
    await expect(early).rejects.toThrow(/upstream went away/);
    await expect(waits.get("d", 3, 1, 1)).rejects.toThrow(/upstream went away/);
  });

  test("data of another size than the mutation says is refused", async () => {
    const { buffer, waits } = setup();
    buffer.begin("d", 2, 0);
    buffer.add("d", new Uint8Array(2), 0);
    await expect(waits.get("d", 3, 1, 1)).rejects.toThrow(/has 2 bytes, the mutation says 3/);
  });

  test("a new chunk version ends the waits of older versions only", async () => {
    const { waits } = setup();
    const old = waits.get("a", 1, 5, 1);
    const current = waits.get("b", 1, 5, 2);
    const other = waits.get("c", 1, 6, 1);
    waits.versionChanged(5, 2);
    await expect(old).rejects.toThrow(/moved to version 2/);
    expect(waits.size).toBe(2);
    waits.closeAll();
    await expect(current).rejects.toThrow(/stopping/);
    await expect(other).rejects.toThrow(/stopping/);
  });

  test("data whose push never begins fails the mutation after the announce time", async () => {
    const { waits } = setup(20);
    await expect(waits.get("never", 1, 1, 1)).rejects.toThrow(/did not arrive: no pushed data came here for 20 ms/);
  });

  test("data whose push never begins fails even while other pushes keep arriving, after the longest wait", async () => {
    const buffer = new PushBuffer(1000, 60_000);
    const waits = new DataWaits(buffer, 20, () => Date.now(), 100); // pushed data arrives all the time
    const t0 = Date.now();
    await expect(waits.get("lost", 1, 1, 1)).rejects.toThrow(/did not arrive: its push did not begin here within 100 ms/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(95);
  });

  test("a push under way is waited for past the announce time", async () => {
    const { buffer, waits } = setup(20);
    buffer.begin("slow", 2, 0);
    const got = waits.get("slow", 2, 1, 1);
    await Bun.sleep(60);
    expect(waits.size).toBe(1);
    buffer.add("slow", new Uint8Array(2), 0);
    waits.arrived("slow");
    expect((await got).data.byteLength).toBe(2);
  });

  test("discarded data is dropped when its push completes", () => {
    const { buffer, waits } = setup();
    buffer.begin("d", 2, 0);
    waits.discard("d");
    buffer.add("d", new Uint8Array(2), 0);
    expect(buffer.has("d")).toBe(true);
    waits.arrived("d");
    expect(buffer.has("d")).toBe(false);
    expect(buffer.usedBytes).toBe(0);
  });
});
