// The protobuf wire format and the gRPC message framing of the etcd client
// (core/master/protobuf.ts, etcd-grpc.ts).
import { describe, expect, test } from "bun:test";
import { GrpcMessages, grpcFrame } from "../../core/master/etcd-grpc";
import { ProtoReader, ProtoWriter } from "../../core/master/protobuf";

describe("protobuf", () => {
  test("varints: small, past 2^31, past 2^53 and negative int64 round-trip; zeros are left out unless asked for", () => {
    const w = new ProtoWriter().int(1, 150).int(2, 0).int(3, 0, true).int(4, 2 ** 40).int(5, 8765432109876543210n).int(6, -1);
    const bytes = w.finish();
    // Field 1 = 150 is the protobuf documentation's example: 08 96 01.
    expect([...bytes.subarray(0, 3)]).toEqual([0x08, 0x96, 0x01]);
    const r = new ProtoReader(bytes);
    const got: [number, string][] = [];
    for (let f = r.next(); f !== 0; f = r.next()) got.push([f, f === 5 ? String(r.int64()) : String(r.int())]);
    expect(got).toEqual([[1, "150"], [3, "0"], [4, String(2 ** 40)], [5, "8765432109876543210"], [6, "-1"]]);
  });

  test("bytes, strings and nested messages round-trip; unknown fields are skipped", () => {
    const big = new Uint8Array(300_000).map((_, i) => i % 251);
    const inner = new ProtoWriter().bytes(1, "key").int(9, 7);
    const bytes = new ProtoWriter().message(2, inner).bytes(3, big).bytes(4, "").bool(5, true).finish();
    const r = new ProtoReader(bytes);
    const seen: string[] = [];
    for (let f = r.next(); f !== 0; f = r.next()) {
      if (f === 2) {
        const n = new ProtoReader(r.bytes());
        for (let g = n.next(); g !== 0; g = n.next()) {
          if (g === 1) seen.push(`inner key ${n.string()}`);
          else n.skip(); // field 9: unknown to this reader
        }
      } else if (f === 3) seen.push(`big ${Buffer.compare(Buffer.from(r.bytes()), Buffer.from(big))}`);
      else if (f === 5) seen.push(`flag ${r.bool()}`);
      else r.skip();
    }
    expect(seen).toEqual(["inner key key", "big 0", "flag true"]);
  });

  test("a message cut short is an error, never a wrong value", () => {
    const bytes = new ProtoWriter().bytes(1, "abcdef").finish();
    const r = new ProtoReader(bytes.subarray(0, 4));
    expect(r.next()).toBe(1);
    expect(() => r.bytes()).toThrow(/past the end/);
    const cut = new ProtoReader(Uint8Array.of(0x08, 0x96)); // field 1, a varint whose last byte is missing
    expect(cut.next()).toBe(1);
    expect(() => cut.int()).toThrow(/ends inside a varint/);
  });
});

describe("gRPC message framing", () => {
  test("messages split and merged across HTTP/2 data chunks come out whole and in order", () => {
    const msgs = [new Uint8Array(0), Uint8Array.of(1, 2, 3), new Uint8Array(70_000).fill(7), Uint8Array.of(9)];
    const stream = Buffer.concat(msgs.map((m) => grpcFrame(m)));
    for (const cut of [1, 2, 5, 6, 1000, 65_536]) {
      const f = new GrpcMessages();
      const out: Uint8Array[] = [];
      for (let at = 0; at < stream.byteLength; at += cut) out.push(...f.push(stream.subarray(at, Math.min(at + cut, stream.byteLength))));
      expect(out.map((m) => [m.byteLength, m[0] ?? -1])).toEqual([[0, -1], [3, 1], [70_000, 7], [1, 9]]);
    }
  });

  test("a compressed message (flag 1), which we never ask for, is refused", () => {
    const framed = grpcFrame(Uint8Array.of(1));
    framed[0] = 1;
    expect(() => new GrpcMessages().push(framed)).toThrow(/compressed/);
  });
});
