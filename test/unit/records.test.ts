import { beforeAll, describe, expect, test } from "bun:test";
import { crc32c, initChecksums } from "../../core/checksums";
import { encodeRecord, encodeRecordWithCrc, RecordScanner, RecordSequencer, type Record } from "../../core/client/records";
import { MutationOrder } from "../../core/chunkserver/mutations";

beforeAll(initChecksums);
const W1 = new Uint8Array([1, 1, 1, 1, 1, 1, 1, 1]);
const W2 = new Uint8Array([2, 2, 2, 2, 2, 2, 2, 2]);
const text = (s: string) => new TextEncoder().encode(s);

function scanAll(stream: Uint8Array, pieces: number[]): Record[] {
  const sc = new RecordScanner(1 << 20);
  const out: Record[] = [];
  let at = 0;
  for (const n of pieces) {
    out.push(...sc.push(stream.subarray(at, at + n)));
    at += n;
  }
  out.push(...sc.push(stream.subarray(at)), ...sc.end());
  return out;
}

describe("record framing", () => {
  test("a record's CRC, derived without a second pass, is the CRC32C of its bytes; it scans back", () => {
    for (const [seq, size] of [[0, 0], [1, 1], [2, 1024], [3, 1024], [2 ** 40, 70_000], [5, 1024]] as const) {
      const payload = new Uint8Array(size).map((_, i) => (i * 31 + seq) & 0xff);
      const { bytes, crc } = encodeRecordWithCrc(W1, seq, payload);
      expect(crc).toBe(crc32c(bytes));
      expect(bytes).toEqual(encodeRecord(W1, seq, payload));
      const [r] = scanAll(bytes, []);
      expect(r!.seq).toBe(seq);
      expect(r!.payload).toEqual(payload);
    }
  });

  test("records are found across padding, torn fragments and arbitrary piece boundaries", () => {
    const a = encodeRecord(W1, 0, text("first"));
    const b = encodeRecord(W1, 1, text("second"));
    const torn = encodeRecord(W2, 0, text("never acknowledged")).subarray(0, 20);
    const corrupt = encodeRecord(W2, 1, text("flipped"));
    corrupt[corrupt.length - 1] = corrupt[corrupt.length - 1]! ^ 0xff;
    const stream = Buffer.concat([a, new Uint8Array(1000), torn, b, corrupt, new Uint8Array(7), encodeRecord(W2, 2, new Uint8Array(0))]);
    for (const pieces of [[], [1, 1, 1], [30, 3, 1000, 5], [stream.length - 1]]) {
      const got = scanAll(stream, pieces);
      expect(got.map((r) => new TextDecoder().decode(r.payload))).toEqual(["first", "second", ""]);
      expect(got[1]!.offset).toBe(a.length + 1000 + 20);
      expect(got[0]!.writer).toBe("0101010101010101");
    }
  });

  test("a length above the limit is not believed", () => {
    const big = encodeRecord(W1, 0, new Uint8Array(100));
    const sc = new RecordScanner(50);
    expect([...sc.push(big), ...sc.end()]).toEqual([]);
  });
});

describe("record sequencer", () => {
  const rec = (w: string, seq: number): Record => ({ writer: w, seq, payload: new Uint8Array(0), offset: 0 });
  const ids = (rs: Record[]) => rs.map((r) => `${r.writer}${r.seq}`);

  test("duplicates from retries are dropped", () => {
    const s = new RecordSequencer();
    expect(ids([rec("a", 0), rec("a", 1), rec("a", 1), rec("a", 0), rec("a", 2)].flatMap((r) => s.accept(r)))).toEqual(["a0", "a1", "a2"]);
    expect(s.duplicates).toBe(2);
  });

  test("a retried record that landed after its successors comes out first", () => {
    const s = new RecordSequencer();
    const out = [rec("a", 1), rec("b", 0), rec("a", 2), rec("a", 0), rec("a", 1)].flatMap((r) => s.accept(r));
    expect(ids(out)).toEqual(["b0", "a0", "a1", "a2"]);
    expect(ids(s.finish())).toEqual([]);
  });

  test("a gap never filled is given up at the end, in order", () => {
    const s = new RecordSequencer();
    expect(ids([rec("a", 0), rec("a", 3), rec("a", 2)].flatMap((r) => s.accept(r)))).toEqual(["a0"]);
    expect(ids(s.finish())).toEqual(["a2", "a3"]);
  });

  test("records of a gap given up on because too much waited are still delivered when they turn up, once", () => {
    // At most 3 records wait: the 4th beyond a gap releases them.
    const s = new RecordSequencer(1 << 30, 3);
    const seen = [0, 3, 4, 5, 6, 1, 7, 2, 1, 5].flatMap((n) => s.accept(rec("a", n)));
    expect(ids(seen)).toEqual(["a0", "a3", "a4", "a5", "a6", "a1", "a7", "a2"]);
    expect(s.late).toBe(2);
    expect(s.duplicates).toBe(2);
    expect(ids(s.finish())).toEqual([]);
  });

  test("the bound on waiting records is in bytes too, across writers", () => {
    const big = (w: string, seq: number): Record => ({ writer: w, seq, payload: new Uint8Array(600), offset: 0 });
    const s = new RecordSequencer(1000);
    expect(s.accept(big("a", 1))).toEqual([]);
    expect(ids(s.accept(big("b", 1)))).toEqual(["b1"]); // 1,200 bytes waiting: the writer that went over gives its gap up
    expect(ids([big("b", 0), big("a", 0), big("a", 1)].flatMap((r) => s.accept(r)))).toEqual(["b0", "a0", "a1"]);
    expect(s.late).toBe(1);
  });
});

describe("primary append decisions", () => {
  test("records go at the end; one that does not fit pads the chunk once; then the chunk is full", () => {
    const m = new MutationOrder();
    m.grantLease(1, 2, 60_000, [], 0, 100);
    expect(m.decideAppend(1, 2, 50, 256, 1)).toMatchObject({ kind: "append", offset: 100, serial: 1 });
    expect(m.decideAppend(1, 2, 100, 256, 1)).toMatchObject({ kind: "append", offset: 150, serial: 2 });
    expect(m.decideAppend(1, 2, 10, 256, 1)).toMatchObject({ kind: "pad", offset: 250, padBytes: 6, serial: 3 });
    expect(m.decideAppend(1, 2, 1, 256, 1)).toEqual({ kind: "full" });
    expect(() => m.decideAppend(1, 1, 1, 256, 1)).toThrow(/version 2/);
  });

  test("a plain write moves the append point past what it wrote", () => {
    const m = new MutationOrder();
    m.grantLease(1, 1, 60_000, [], 0, 0);
    m.beginPrimary(1, 1, 1, 40);
    expect(m.decideAppend(1, 1, 5, 256, 1)).toMatchObject({ kind: "append", offset: 40 });
  });
});
