// CRC32C (Castagnoli), the one checksum of the project: per 64 KiB block of
// chunk data (C2), per pushed or read range (end to end), per frame head on the
// wire and per operation log record. Whole blocks go through
// the processor's CRC32C instruction where it has one (core/crc32c-hardware.ts),
// else through hash-wasm; extending the checksum of a partial last block on
// append resumes from the stored value, so appends never re-read the bytes
// already on disk and existing corruption stays detectable.
import { createCRC32, type IHasher } from "hash-wasm";
import { loadHardwareCrc32c } from "./crc32c-hardware";
import { readU32 } from "../net/frame";

export const BLOCK_BYTES = 64 * 1024;
const POLY_REFLECTED = 0x82f63b78;

let hasher: IHasher | null = null;
/** The hardware CRC32C (extending a CRC), once initChecksums() found one. */
let hardware: ((crc: number, data: Uint8Array) => number) | null = null;
let implementation = "portable (not initialized)";
/** Below this many bytes the table code beats a call into native code. */
const HARDWARE_MIN_BYTES = 64;

/**
 * Must be awaited once before any other function here is used. GFS_CRC32C=portable
 * keeps the portable code even where the processor has a CRC32C instruction.
 */
export async function initChecksums(): Promise<void> {
  if (hasher) return;
  hasher = await createCRC32(POLY_REFLECTED);
  if (process.env.GFS_CRC32C === "portable") {
    implementation = "portable (GFS_CRC32C=portable)";
    return;
  }
  const hw = loadHardwareCrc32c();
  hardware = hw.crc32c;
  implementation = hardware ? `hardware (${hw.why})` : `portable (${hw.why})`;
}

/** Which CRC32C code runs here, and why: the daemons say it when they start listening. */
export function checksumImplementation(): string {
  return implementation;
}

/** CRC32C of `data`. */
export function crc32c(data: Uint8Array): number {
  if (hardware) return hardware(0, data);
  const h = hasher;
  if (!h) throw new Error("initChecksums() was not awaited");
  h.init();
  h.update(data);
  const d = h.digest("binary");
  return readU32(d, 0);
}

// Int32Array tables keep every intermediate value a 32-bit integer; with
// Uint32Array, values above 2^31 become doubles and the loop runs ~10x slower.
const TABLES: Int32Array[] = (() => {
  const t: Int32Array[] = [];
  for (let k = 0; k < 8; k++) t.push(new Int32Array(256));
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let j = 0; j < 8; j++) c = c & 1 ? (c >>> 1) ^ POLY_REFLECTED : c >>> 1;
    t[0]![i] = c | 0;
  }
  for (let i = 0; i < 256; i++) {
    let c = t[0]![i]!;
    for (let k = 1; k < 8; k++) {
      c = t[0]![c & 0xff]! ^ (c >>> 8);
      t[k]![i] = c | 0;
    }
  }
  return t;
})();

/**
 * CRC32C of (A || data[start, end)) given crc = CRC32C(A). crc32cExtend(0, x) === crc32c(x).
 * A range spares small messages a view of their bytes.
 */
export function crc32cExtend(crc: number, data: Uint8Array, start = 0, end = data.byteLength): number {
  if (hardware && end - start >= HARDWARE_MIN_BYTES) return hardware(crc, start === 0 && end === data.byteLength ? data : data.subarray(start, end));
  return crc32cTable(crc, data, start, end);
}

/** The portable CRC32C extension, eight bytes per step through eight tables. */
export function crc32cTable(crc: number, data: Uint8Array, start = 0, end = data.byteLength): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
  let c = ~crc | 0;
  let i = start;
  const end8 = end - ((end - start) & 7);
  while (i < end8) {
    const lo = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    c =
      t7[lo & 0xff]! ^ t6[(lo >>> 8) & 0xff]! ^ t5[(lo >>> 16) & 0xff]! ^ t4[(lo >>> 24) & 0xff]! ^
      t3[data[i + 4]!]! ^ t2[data[i + 5]!]! ^ t1[data[i + 6]!]! ^ t0[data[i + 7]!]!;
    i += 8;
  }
  for (; i < end; i++) c = t0[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

// ---- combining: CRC32C(A || B) from CRC32C(A), CRC32C(B) and the length of B ----
// A CRC is a polynomial over GF(2) in reflected bit order (bit 31 is x^0).
// Appending n bytes to A multiplies A's CRC by x^(8n) modulo the CRC
// polynomial, so combining costs O(log n) multiplications and never touches
// the data: a chunk server checks a whole push against the sender's CRC from
// the block checksums it computes anyway.

/** a(x) * b(x) modulo the CRC polynomial. `a` must not be 0. */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY_REFLECTED : b >>> 1;
  }
  return p >>> 0;
}

/** X2N[k] = x^(2^k) modulo the CRC polynomial. */
const X2N: number[] = (() => {
  const t = [1 << 30]; // x^1
  for (let k = 1; k < 32; k++) t.push(multModP(t[k - 1]!, t[k - 1]!));
  return t;
})();

/** x^(8n) modulo the CRC polynomial. */
function xPow8n(n: number): number {
  let p = 0x80000000; // x^0
  for (let k = 3; n > 0; k++, n = Math.floor(n / 2)) if (n % 2 === 1) p = multModP(X2N[k & 31]!, p);
  return p;
}

// Shifting a CRC past n zero bytes is linear in the CRC's bits, so for a
// length seen again and again (records of one size, whole blocks) it is four
// table lookups: one 256-entry table per byte of the CRC. Tables are built on
// a length's second use and kept for a few lengths.
const SHIFT_TABLES_KEPT = 16;
const shiftTables = new Map<number, Int32Array>();
const lengthsSeen = new Map<number, number>();

function shiftTable(n: number): Int32Array | undefined {
  const t = shiftTables.get(n);
  if (t) return t;
  const seen = (lengthsSeen.get(n) ?? 0) + 1;
  if (lengthsSeen.size >= 1024) lengthsSeen.clear();
  lengthsSeen.set(n, seen);
  if (seen < 2) return undefined;
  const pow = xPow8n(n);
  const table = new Int32Array(4 * 256);
  for (let k = 0; k < 4; k++) {
    for (let v = 1; v < 256; v++) {
      const low = v & -v; // lowest set bit: table[v] = table[v without it] ^ shift(that bit)
      table[k * 256 + v] = v === low ? multModP(pow, (v << (8 * k)) >>> 0) | 0 : table[k * 256 + (v ^ low)]! ^ table[k * 256 + low]!;
    }
  }
  if (shiftTables.size >= SHIFT_TABLES_KEPT) shiftTables.delete(shiftTables.keys().next().value!);
  shiftTables.set(n, table);
  return table;
}

/** CRC32C(A || B), given crcA = CRC32C(A), crcB = CRC32C(B) and B's length. */
export function crc32cCombine(crcA: number, crcB: number, bytesB: number): number {
  if (bytesB === 0 || crcA === 0) return (crcA ^ crcB) >>> 0;
  const t = shiftTable(bytesB);
  if (t) return (t[crcA & 0xff]! ^ t[256 + ((crcA >>> 8) & 0xff)]! ^ t[512 + ((crcA >>> 16) & 0xff)]! ^ t[768 + (crcA >>> 24)]! ^ crcB) >>> 0;
  return (multModP(xPow8n(bytesB), crcA >>> 0) ^ crcB) >>> 0;
}

/** Checksums of consecutive blocks of `data` (the last may be partial). */
export function blockChecksums(data: Uint8Array): number[] {
  const out: number[] = [];
  for (let at = 0; at < data.byteLength; at += BLOCK_BYTES) out.push(crc32c(data.subarray(at, Math.min(at + BLOCK_BYTES, data.byteLength))));
  return out;
}

/**
 * The checksum of bytes in transit from a chunk server to a reader (the `read`
 * reply's `crc`): CRC-32 (IEEE 802.3), which Bun computes natively at over ten
 * times the speed of CRC32C here, so checking every byte a reader receives
 * costs little. Stored data keeps its CRC32C block checksums, verified by the
 * server before it sends.
 */
export function transitCrc(data: Uint8Array): number {
  return Bun.hash.crc32(data) >>> 0;
}
