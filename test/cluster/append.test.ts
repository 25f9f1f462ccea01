// Record append from many processes at once, with a secondary killed mid-way.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, RecordScanner, type GfsClient } from "../../core/client";
import { pushAhead } from "../../core/client/writer";
import { ErrorCode } from "../../net/errors";
import type { LeaseGrant } from "../../net/messages";
import type { Peer } from "../../net/peer";
import { GFS, TestCluster, stopAll, waitFor } from "../helpers/cluster";
import { randomBytes } from "../helpers/bytes";

afterAll(stopAll);

/** 400 unique printable lines of 50-1500 bytes for writer `w`. */
function linesFor(w: number): string[] {
  const noise = randomBytes(400 * 1500, 1000 + w);
  return Array.from({ length: 400 }, (_, i) => {
    const head = `w${w}-${String(i).padStart(3, "0")}-`;
    const len = 50 + ((i * 7919 + w * 104729) % 1451);
    let body = "";
    for (let k = head.length; k < len; k++) body += String.fromCharCode(97 + (noise[i * 1500 + k]! % 26));
    return head + body;
  });
}

/** A new file `path`, the lease for appending to it, and a connection to its primary. */
async function appendLeaseOn(c: GfsClient, path: string): Promise<{ grant: LeaseGrant; primary: Peer }> {
  await c.ensureFile(path);
  const grant: LeaseGrant = await c.master("appendLease", { path });
  return { grant, primary: await c.pool.get(grant.primary.addr) };
}

describe("record append", () => {
  const cluster = new TestCluster({ chunkSize: "1MiB", chunkservers: 4, replication: 3 });
  beforeAll(async () => {
    await cluster.start();
  });
  afterAll(async () => {
    await cluster.stop();
  });

  test("8 concurrent `append --lines` writers, one secondary SIGKILLed half-way: every line exactly once, each writer in order", async () => {
    const all = Array.from({ length: 8 }, (_, w) => linesFor(w));
    const procs = all.map(() =>
      Bun.spawn([GFS, "append", "/logs/events", "--lines"], { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { ...process.env, GFS_MASTER: cluster.masterAddr } }),
    );
    // First half of every writer's lines.
    for (let w = 0; w < 8; w++) {
      procs[w]!.stdin.write(all[w]!.slice(0, 200).join("\n") + "\n");
      procs[w]!.stdin.flush();
    }
    const t0 = performance.now();
    const mark = (what: string) => process.env.GFS_TEST_VERBOSE && console.log(`${what} at ${Math.round(performance.now() - t0)} ms`);
    await waitFor("half of the records", async () => {
      const r = await cluster.gfs(["cat", "--records", "/logs/events"], { check: false });
      return r.code === 0 && r.stdout.split("\n").length > 1200;
    }, 60_000, 100);
    // Kill a secondary of the chunk being appended to.
    const tail = JSON.parse((await cluster.gfs(["stat", "/logs/events", "--json"])).stdout).chunks.at(-1);
    const victimAddr = tail.replicas.map((r: { server: string }) => r.server).find((a: string) => a !== tail.primary);
    const victim = cluster.chunkservers.find((d) => d.addr === victimAddr)!;
    expect(victim).toBeDefined();
    mark("half written");
    await cluster.kill(victim);
    mark("secondary killed");
    for (let w = 0; w < 8; w++) {
      procs[w]!.stdin.write(all[w]!.slice(200).join("\n") + "\n");
      procs[w]!.stdin.end();
    }
    const results = await Promise.all(procs.map(async (p) => ({ code: await p.exited, err: await new Response(p.stderr).text() })));
    mark("writers done");
    for (const r of results) expect(r).toEqual({ code: 0, err: "" });

    const out = (await cluster.gfs(["cat", "--records", "/logs/events"])).stdout.split("\n");
    expect(out.pop()).toBe("");
    expect(out).toHaveLength(3200);
    expect(new Set(out).size).toBe(3200);
    for (let w = 0; w < 8; w++) {
      const mine = out.filter((l) => l.startsWith(`w${w}-`));
      expect(mine).toEqual(all[w]!);
    }
    const st = JSON.parse((await cluster.gfs(["stat", "/logs/events", "--json"])).stdout);
    expect(st.chunks.length).toBeGreaterThan(2);
    // Every chunk but the last was closed with padding: full size.
    const raw = (await cluster.gfs(["cat", "/logs/events"])).stdoutBytes;
    expect(raw.byteLength).toBeGreaterThan((st.chunks.length - 1) * 1024 * 1024 - 1);
  }, 240_000);

  test("8 `append --lines` writers across many full chunks, no fault: in the file itself each writer's records lie in its order, once", async () => {
    // A batch that meets a full chunk is sent again to the next one; the
    // batches made after it must not land there before it.
    const lines = (w: number) => Array.from({ length: 3000 }, (_, i) => `o${w}-${i}-${"y".repeat(100 + ((i * 131 + w * 17) % 400))}`);
    const procs = Array.from({ length: 8 }, (_, w) =>
      Bun.spawn([GFS, "append", "/logs/order", "--lines"], { stdin: new TextEncoder().encode(lines(w).join("\n") + "\n"), stdout: "ignore", stderr: "pipe", env: { ...process.env, GFS_MASTER: cluster.masterAddr } }),
    );
    for (const p of procs) expect({ code: await p.exited, err: await new Response(p.stderr).text() }).toEqual({ code: 0, err: "" });
    const raw = (await cluster.gfs(["cat", "/logs/order"])).stdoutBytes;
    expect(raw.byteLength).toBeGreaterThan(6 * 1024 * 1024); // several chunk boundaries
    const scanner = new RecordScanner(256 * 1024);
    const found = [...scanner.push(raw), ...scanner.end()];
    const byWriter = new Map<string, number[]>();
    for (const r of found) {
      if (!byWriter.has(r.writer)) byWriter.set(r.writer, []);
      byWriter.get(r.writer)!.push(r.seq);
    }
    expect(byWriter.size).toBe(8);
    for (const seqs of byWriter.values()) expect(seqs).toEqual(Array.from({ length: 3000 }, (_, i) => i));
  }, 120_000);

  test("append prints the offset; a record over a quarter of the chunk size is refused", async () => {
    const first = await cluster.gfs(["append", "/one"], { stdin: "hello" });
    const second = await cluster.gfs(["append", "/one", "-"], { stdin: "world!" });
    expect(first.stdout).toBe("0\n");
    expect(second.stdout).toBe(`${28 + 5}\n`);
    expect((await cluster.gfs(["cat", "--records", "/one"])).stdout).toBe("hello\nworld!\n");
    const big = await cluster.gfs(["append", "/one"], { stdin: new Uint8Array(300 * 1024), check: false });
    expect(big.code).toBe(1);
    expect(big.stderr).toMatch(/^gfs: .*over a quarter of the chunk size/);
    expect((await cluster.gfs(["cat", "--records", "/one"])).stdout).toBe("hello\nworld!\n");
    const raw = await cluster.gfs(["append", "/raw", "--raw"], { stdin: "plain bytes" });
    expect(raw.stdout).toBe("0\n");
    expect((await cluster.gfs(["cat", "/raw"])).stdout).toBe("plain bytes");
  });

  test("16 library appenders streaming with write and flush: every record once, each writer in its order", async () => {
    const c = connect({ master: cluster.masterAddr });
    try {
      await c.ensureFile("/stream");
      const enc = new TextEncoder();
      await Promise.all(Array.from({ length: 16 }, async (_, w) => {
        const a = c.appender("/stream");
        for (let i = 0; i < 300; i++) await a.write(enc.encode(`s${w}-${i}-${"x".repeat((i * 37) % 900)}`));
        await a.flush();
      }));
      const seen: string[] = [];
      const dec = new TextDecoder();
      for await (const r of c.readRecords("/stream")) seen.push(dec.decode(r.payload));
      expect(seen).toHaveLength(16 * 300);
      for (let w = 0; w < 16; w++) {
        const mine = seen.filter((l) => l.startsWith(`s${w}-`)).map((l) => Number(l.split("-")[1]));
        expect(mine).toEqual(Array.from({ length: 300 }, (_, i) => i));
      }
    } finally {
      c.close();
    }
  }, 120_000);

  test("an append sent before its data waits for the push; one whose data never comes fails and the next goes on", async () => {
    const c = connect({ master: cluster.masterAddr });
    try {
      const { grant, primary } = await appendLeaseOn(c, "/early");
      const ask = (dataId: string, size: number) => primary.call("append", { handle: grant.handle, version: grant.version, dataId, size });
      // The request first; the data follows on the same connection.
      const late = ask("late-data", 5);
      await pushAhead(c, grant, "late-data", new TextEncoder().encode("12345"));
      expect((await late).offset).toBe(0);
      // Data that never comes: NO_DATA, on this replica and the others.
      const never = ask("never-pushed", 3).then(() => null, (e) => e);
      const next = ask("next-data", 4);
      await pushAhead(c, grant, "next-data", new TextEncoder().encode("6789"));
      expect((await never)?.code).toBe(ErrorCode.NO_DATA);
      const { offset } = await next;
      expect(offset).toBe(8); // after the 3 bytes handed to the failed append
      const bytes = (await cluster.gfs(["cat", "/early"])).stdoutBytes;
      expect(new TextDecoder().decode(bytes.subarray(0, 5))).toBe("12345");
      expect(new TextDecoder().decode(bytes.subarray(8, 12))).toBe("6789");
    } finally {
      c.close();
    }
  }, 60_000);

  test("a small record rides in its append request: every replica holds it where the primary said; inline bytes that do not match their size or CRC32C land nowhere", async () => {
    const c = connect({ master: cluster.masterAddr });
    try {
      const { grant, primary } = await appendLeaseOn(c, "/inline");
      const ask = async (data: Uint8Array, size: number, crc: number) =>
        primary.callData("append", { handle: grant.handle, version: grant.version, dataId: "", size, crc }, data).then(
          (r) => r.offset,
          (e) => e.code as string,
        );
      const first = new TextEncoder().encode("first inline record");
      const second = new TextEncoder().encode("second one");
      expect(await ask(first, first.byteLength, await c.crc32c(first))).toBe(0);
      // Refused before it is given an offset: its size is not what it says.
      expect(await ask(second, second.byteLength + 1, await c.crc32c(second))).toBe(ErrorCode.INVALID_ARGUMENT);
      // Damaged after its CRC32C was taken: refused by every replica.
      const damaged = Uint8Array.from(second);
      damaged[3] = damaged[3]! ^ 0x20;
      expect(await ask(damaged, damaged.byteLength, await c.crc32c(second))).toBe(ErrorCode.NO_DATA);
      const at = await ask(second, second.byteLength, await c.crc32c(second));
      expect(typeof at).toBe("number");
      const held: Uint8Array[] = [];
      for (const r of [grant.primary, ...grant.secondaries]) {
        const rep = await (await c.pool.get(r.addr)).call("read", { handle: grant.handle, version: grant.version, offset: 0, length: 1024 });
        expect(rep.chunkBytes).toBe((at as number) + second.byteLength);
        held.push(rep.data);
      }
      for (const h of held) {
        expect(Buffer.from(h).equals(Buffer.from(held[0]!))).toBe(true);
        expect(new TextDecoder().decode(h.subarray(0, first.byteLength))).toBe("first inline record");
        expect(new TextDecoder().decode(h.subarray(at as number))).toBe("second one");
        expect(new TextDecoder().decode(h).includes("secOnd")).toBe(false);
      }
    } finally {
      c.close();
    }
  }, 60_000);

  test("an append whose data was lost on the way fails with NO_DATA while other clients' data keeps arriving, and the chunk goes on", async () => {
    const c = connect({ master: cluster.masterAddr });
    let busy = true;
    try {
      const { grant, primary } = await appendLeaseOn(c, "/lost");
      const ask = (dataId: string, size: number) => primary.call("append", { handle: grant.handle, version: grant.version, dataId, size });
      // Other pushes reach every replica all the time, as on a busy cluster.
      const others = (async () => {
        for (let i = 0; busy; i++) {
          await pushAhead(c, grant, `other-${i}`, new Uint8Array(1024));
          await Bun.sleep(50);
        }
      })();
      const t0 = Date.now();
      const lost = await ask("lost-on-the-way", 3).then(() => null, (e) => e);
      expect(lost?.code).toBe(ErrorCode.NO_DATA);
      expect(Date.now() - t0).toBeLessThan(30_000);
      busy = false;
      await others;
      const next = ask("after-the-loss", 4);
      await pushAhead(c, grant, "after-the-loss", new TextEncoder().encode("abcd"));
      const { offset } = await next;
      expect(new TextDecoder().decode((await cluster.gfs(["cat", "/lost"])).stdoutBytes.subarray(offset, offset + 4))).toBe("abcd");
    } finally {
      busy = false;
      c.close();
    }
  }, 60_000);
});
