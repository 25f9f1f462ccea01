// The etcd client (core/master/etcd-client.ts) against a real etcd 3.4 over
// gRPC: what the HA master relies on, call by call, including a value near
// the log's batch size, lease IDs past 2^53, a watch that sees puts and
// deletions, and etcd going away.
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { EtcdClient, prefixEnd, type WatchEvent } from "../../core/master/etcd-client";
import { MAX_BATCH_BYTES } from "../../core/master/replicated-log";
import { randomBytes, stopAll, tempDir, waitFor } from "../helpers/cluster";
import { EtcdServer } from "../helpers/etcd";

afterAll(stopAll);

/** The error a call fails with (null if it succeeds). */
async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
    return null;
  } catch (err) {
    return err;
  }
}

describe("the etcd client over gRPC", () => {
  test("range, put, txn, leases and watch behave as the HA master needs; etcd down is UNAVAILABLE", async () => {
    const dir = tempDir("gfs-etcd-");
    const etcd = await new EtcdServer(join(dir, "etcd")).start();
    const c = new EtcdClient([etcd.url]);
    try {
      const r1 = await c.put("/t/a", "one");
      const lease = await c.grantLease(30);
      expect(BigInt(lease)).toBeGreaterThan(0n);
      const r2 = await c.put("/t/b", new Uint8Array([0, 1, 255]), lease);
      expect(r2).toBe(r1 + 1);

      const all = await c.range("/t/", prefixEnd("/t/"));
      expect(all.kvs.map((kv) => [kv.key, [...kv.value], kv.lease])).toEqual([["/t/a", [...new TextEncoder().encode("one")], "0"], ["/t/b", [0, 1, 255], lease]]);
      expect(all.revision).toBe(r2);
      const newest = await c.range("/t/", prefixEnd("/t/"), { limit: 1, keysOnly: true, descending: true });
      expect(newest.kvs.map((kv) => [kv.key, kv.value.byteLength, kv.createRevision])).toEqual([["/t/b", 0, r2]]);
      expect(newest.more).toBe(true);

      // The election: create the key if absent; otherwise read who holds it.
      const won = await c.txn([{ key: "/t/leader", createRevision: 0 }], [{ put: { key: "/t/leader", value: "m1", lease } }], [{ range: { key: "/t/leader" } }]);
      expect(won.succeeded).toBe(true);
      const lost = await c.txn([{ key: "/t/leader", createRevision: 0 }], [{ put: { key: "/t/leader", value: "m2", lease } }], [{ range: { key: "/t/leader" } }]);
      expect(lost.succeeded).toBe(false);
      expect(lost.ranges[0]!.map((kv) => [new TextDecoder().decode(kv.value), kv.createRevision])).toEqual([["m1", won.revision]]);
      // Fenced by the key's create revision, as the log's batches are.
      const fenced = await c.txn([{ key: "/t/leader", createRevision: won.revision }], [{ put: { key: "/t/log/1", value: "batch" } }]);
      expect(fenced.succeeded).toBe(true);
      const stale = await c.txn([{ key: "/t/leader", createRevision: won.revision - 1 }], [{ put: { key: "/t/log/2", value: "batch" } }]);
      expect(stale.succeeded).toBe(false);

      // A value of a full batch travels whole.
      const batch = randomBytes(MAX_BATCH_BYTES, 3);
      await c.put("/t/log/big", batch);
      expect(Buffer.compare(Buffer.from((await c.range("/t/log/big")).kvs[0]!.value), Buffer.from(batch))).toBe(0);

      expect(await c.keepAlive(lease)).toBeGreaterThan(25);
      expect(await c.keepAlive("8765432109876543210")).toBe(0); // no such lease (past 2^53)
      // (Awaited in a try, not through expect().rejects, under which bun test 1.4.5 delivers no HTTP/2 reply.)
      expect(await failure(c.put("/t/x", "y", "12345"))).toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/requested lease not found/) });

      // A watch from a past revision replays, then follows; deletions come too.
      const seen: WatchEvent[] = [];
      const w = c.watch("/t/", prefixEnd("/t/"), r2, (events) => seen.push(...events));
      await c.put("/t/c", "three");
      expect(await c.deleteRange("/t/a", "/t/b")).toBe(1);
      await waitFor("the watch to see the deletion", () => seen.some((e) => e.type === "delete"), 10_000, 20);
      w.cancel();
      expect(await w.closed).toBe("cancelled");
      const names = seen.map((e) => `${e.type} ${e.kv.key}`);
      expect(names.slice(0, 2)).toEqual(["put /t/b", "put /t/leader"]);
      expect(names).toContain("put /t/c");
      expect(names[names.length - 1]).toBe("delete /t/a");

      // Revoking the lease deletes the keys under it.
      await c.revokeLease(lease);
      expect((await c.range("/t/", prefixEnd("/t/"))).kvs.map((kv) => kv.key)).toEqual(["/t/c", "/t/log/1", "/t/log/big"]);

      etcd.proc.kill("SIGKILL");
      await etcd.proc.exited;
      expect(await failure(c.put("/t/y", "z"))).toMatchObject({ code: "UNAVAILABLE", message: expect.stringMatching(/etcd is unreachable/) });
    } finally {
      c.close();
      etcd.proc.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
