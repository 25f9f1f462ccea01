// The protobuf wire format, as much as the etcd client needs (etcd-messages.ts):
// varint fields (64-bit ones as bigint, since etcd's lease IDs pass 2^53),
// length-delimited bytes, strings and nested messages. Unknown fields are
// skipped when reading, as protobuf requires.

const utf8 = new TextEncoder();

const WIRE_VARINT = 0;
const WIRE_64BIT = 1;
const WIRE_BYTES = 2;
const WIRE_32BIT = 5;

export class ProtoWriter {
  private readonly parts: Uint8Array[] = [];
  private head: number[] = [];
  private size = 0;

  private varint(v: number | bigint): void {
    if (typeof v === "number" && v >= 0 && v < 0x80000000) {
      let n = v;
      while (n > 127) {
        this.head.push((n & 127) | 128);
        n >>>= 7;
      }
      this.head.push(n);
      return;
    }
    let n = BigInt.asUintN(64, BigInt(v)); // negative int64 as its two's complement, as protobuf does
    while (n > 127n) {
      this.head.push(Number(n & 127n) | 128);
      n >>= 7n;
    }
    this.head.push(Number(n));
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  private flushHead(): void {
    if (this.head.length === 0) return;
    this.parts.push(Uint8Array.from(this.head));
    this.size += this.head.length;
    this.head = [];
  }

  /** A varint field (int64, uint64, enum); left out when 0 unless `always` (a oneof member). */
  int(field: number, v: number | bigint, always = false): this {
    if (!always && (v === 0 || v === 0n)) return this;
    this.tag(field, WIRE_VARINT);
    this.varint(v);
    return this;
  }

  bool(field: number, v: boolean | undefined): this {
    if (v) this.int(field, 1);
    return this;
  }

  /** A bytes or string field; left out when empty unless `always`. */
  bytes(field: number, v: Uint8Array | string, always = false): this {
    const b = typeof v === "string" ? utf8.encode(v) : v;
    if (!always && b.byteLength === 0) return this;
    this.tag(field, WIRE_BYTES);
    this.varint(b.byteLength);
    this.flushHead();
    this.parts.push(b);
    this.size += b.byteLength;
    return this;
  }

  /** A nested message (always written, even when empty: it may be a oneof member). */
  message(field: number, m: ProtoWriter): this {
    return this.bytes(field, m.finish(), true);
  }

  finish(): Uint8Array {
    this.flushHead();
    if (this.parts.length === 1) return this.parts[0]!;
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  }
}

export class ProtoReader {
  private pos = 0;
  /** The wire type of the field just read by next(). */
  private wire = 0;

  constructor(private readonly buf: Uint8Array) {}

  /** The next field's number, or 0 at the end. */
  next(): number {
    if (this.pos >= this.buf.byteLength) return 0;
    const key = Number(this.varint());
    this.wire = key & 7;
    return key >>> 3;
  }

  private varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.byteLength) throw new Error("protobuf message ends inside a varint");
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 127) << shift;
      if ((b & 128) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new Error("protobuf varint is longer than 64 bits");
    }
  }

  /** A varint field as a number (revisions, counts, TTLs: all far below 2^53). */
  int(): number {
    return Number(BigInt.asIntN(64, this.varint()));
  }

  /** A varint field as a signed 64-bit bigint (lease IDs). */
  int64(): bigint {
    return BigInt.asIntN(64, this.varint());
  }

  bool(): boolean {
    return this.varint() !== 0n;
  }

  /** A bytes field: a view into the message. */
  bytes(): Uint8Array {
    const n = Number(this.varint());
    if (this.pos + n > this.buf.byteLength) throw new Error("protobuf field runs past the end of its message");
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    return new TextDecoder().decode(this.bytes());
  }

  /** Skips the field just announced by next(). */
  skip(): void {
    if (this.wire === WIRE_VARINT) this.varint();
    else if (this.wire === WIRE_BYTES) this.bytes();
    else if (this.wire === WIRE_64BIT) this.pos += 8;
    else if (this.wire === WIRE_32BIT) this.pos += 4;
    else throw new Error(`protobuf wire type ${this.wire} is not supported`);
  }
}
