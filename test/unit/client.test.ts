import { describe, expect, test } from "bun:test";
import { LocationCache } from "../../core/client/locations";
import { cutPieces } from "../../core/client/writer";
import { parseDuration, parseSize } from "../../cli/options";

async function* gen(sizes: number[]): AsyncGenerator<Uint8Array> {
  let v = 0;
  for (const n of sizes) yield new Uint8Array(n).map(() => v++ & 0xff);
}

describe("client pieces", () => {
  test("pieces never cross a chunk boundary and keep every byte in order", async () => {
    const out: Uint8Array[] = [];
    for await (const p of cutPieces(gen([5, 17, 3, 40, 1]), 10, 4)) out.push(p);
    expect(out.map((p) => p.byteLength)).toEqual([4, 4, 2, 4, 4, 2, 4, 4, 2, 4, 4, 2, 4, 4, 2, 4, 4, 2, 4, 2]);
    const all = Buffer.concat(out);
    expect(all.length).toBe(66);
    expect([...all].every((b, i) => b === (i & 0xff))).toBe(true);
  });
});

describe("location cache", () => {
  test("entries expire and can be dropped one chunk at a time", () => {
    const c = new LocationCache(1000);
    const loc = (index: number) => ({ index, handle: index + 1, version: 1, size: 0, replicas: [] });
    c.put("/f", { chunkSize: 10, size: 20, chunkCount: 2 }, [loc(0), loc(1)], 0);
    expect(c.get("/f", 1, 999)?.handle).toBe(2);
    c.invalidate("/f", 1);
    expect(c.get("/f", 1, 10)).toBeUndefined();
    expect(c.get("/f", 0, 1001)).toBeUndefined();
    expect(c.shape("/f", 500)?.chunkCount).toBe(2);
  });
});

describe("command-line units", () => {
  test("sizes and durations", () => {
    expect(parseSize("1048576", "--x")).toBe(1048576);
    expect(parseSize("64KiB", "--x")).toBe(65536);
    expect(parseSize("16MiB", "--x")).toBe(16 * 1024 * 1024);
    expect(parseSize("1GiB", "--x")).toBe(1024 ** 3);
    expect(() => parseSize("12 parsecs", "--x")).toThrow(/--x: '12 parsecs' is not a size/);
    expect(parseDuration("500ms", "--d")).toBe(500);
    expect(parseDuration("30s", "--d")).toBe(30_000);
    expect(parseDuration("5m", "--d")).toBe(300_000);
    expect(parseDuration("1d", "--d")).toBe(86_400_000);
    expect(() => parseDuration("soon", "--d")).toThrow(/not a duration/);
  });
});

describe("issue order", () => {
  test("requests go out in the order turns were taken; a passed turn lets the next go after earlier ones", async () => {
    const { IssueOrder } = await import("../../core/client/issue-order");
    const order = new IssueOrder();
    const sent: string[] = [];
    const [a, b, c] = [order.take(), order.take(), order.take()];
    const cDone = c.wait().then(() => {
      sent.push("c");
      c.sent();
    });
    const bDone = b.pass(); // b failed: it retries out of order
    await Bun.sleep(1);
    expect(sent).toEqual([]); // nothing before a has gone
    await a.wait();
    sent.push("a");
    a.sent();
    await Promise.all([bDone, cDone]);
    expect(sent).toEqual(["a", "c"]);
    expect(await Promise.race([b.wait().then(() => "open"), Bun.sleep(5).then(() => "blocked")])).toBe("open");
  });

  test("a retried request goes after every earlier one is over and before any later one; a later one does not pass one sent elsewhere", async () => {
    const { IssueOrder } = await import("../../core/client/issue-order");
    const state = async (p: Promise<void>) => Promise.race([p.then(() => "open"), Bun.sleep(5).then(() => "blocked")]);
    const order = new IssueOrder();
    const [a, b, c, d] = [order.take(), order.take(), order.take(), order.take()];
    await a.wait("chunk1");
    a.sent();
    await b.wait("chunk1");
    b.sent(); // a and b in flight to chunk 1
    expect(await state(c.wait("chunk2"))).toBe("blocked"); // chunk 2 must wait for what went to chunk 1
    b.retry(); // b met a full chunk
    expect(await state(b.wait("chunk2"))).toBe("blocked"); // a is not answered yet
    a.pass(); // a is done
    expect(await state(b.wait("chunk2"))).toBe("open");
    b.sent();
    // b is a retry in flight: c and d wait until it is over, even to the same chunk.
    expect(await state(c.wait("chunk2"))).toBe("blocked");
    b.pass();
    expect(await state(c.wait("chunk2"))).toBe("open");
    c.sent();
    expect(await state(d.wait("chunk2"))).toBe("open");
  });
});
