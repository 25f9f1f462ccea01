import { beforeAll, describe, expect, test } from "bun:test";
import { createCRC32 } from "hash-wasm";
import { blockChecksums, checksumImplementation, crc32c, crc32cCombine, crc32cExtend, crc32cTable, initChecksums, BLOCK_BYTES } from "../../core/checksums";
import { loadHardwareCrc32c } from "../../core/crc32c-hardware";
import { randomBytes } from "../helpers/bytes";

beforeAll(initChecksums);

describe("CRC32C", () => {
  test("matches the standard check value", () => {
    const data = new TextEncoder().encode("123456789");
    expect(crc32c(data)).toBe(0xe3069283);
    expect(crc32cExtend(0, data)).toBe(0xe3069283);
  });

  test("the processor's CRC32C instruction is used on x86-64, and agrees with both portable codes at every length, alignment and starting value", async () => {
    const hw = loadHardwareCrc32c();
    if (process.arch !== "x64") {
      expect(hw.crc32c).toBeNull();
      return;
    }
    expect(hw.why).toBe("SSE 4.2");
    expect(checksumImplementation()).toBe("hardware (SSE 4.2)");
    const native = hw.crc32c!;
    const wasm = await createCRC32(0x82f63b78);
    const data = randomBytes(BLOCK_BYTES + 300, 11);
    for (let at = 0; at < 8; at++) {
      for (let n = 0; n <= 300; n++) {
        const part = data.subarray(at, at + n);
        const start = (n * 2654435761) >>> 0;
        expect(native(start, part)).toBe(crc32cTable(start, part));
        wasm.init();
        wasm.update(part);
        expect(native(0, part)).toBe(new DataView(wasm.digest("binary").buffer).getUint32(0));
      }
    }
    expect(native(0, data)).toBe(crc32cTable(0, data));
    expect(crc32c(data)).toBe(crc32cTable(0, data));
  });

  test("extending a checksum equals checksumming the concatenation, at any split", () => {
    const data = randomBytes(5000, 9);
    for (const cut of [0, 1, 7, 8, 9, 63, 64, 1000, 4999, 5000]) {
      expect(crc32cExtend(crc32c(data.subarray(0, cut)), data.subarray(cut))).toBe(crc32c(data));
    }
  });

  test("a range of an array checksums as the same bytes on their own, on both paths", () => {
    const data = randomBytes(5000, 11);
    for (const [start, end] of [[0, 0], [0, 4], [3, 11], [5, 12], [7, 64], [8, 16], [1, 4999], [100, 5000], [0, 5000], [4093, 4095]] as const) {
      const alone = data.slice(start, end);
      expect(crc32cExtend(0x1234, data, start, end)).toBe(crc32cExtend(0x1234, alone));
      expect(crc32cTable(0x1234, data, start, end)).toBe(crc32cTable(0x1234, alone));
    }
  });

  test("combining two checksums equals checksumming the concatenation, without the data", () => {
    const data = randomBytes(3 * BLOCK_BYTES + 77, 10);
    for (const cut of [0, 1, 3, 4, 5, 100, BLOCK_BYTES, 2 * BLOCK_BYTES + 1, data.byteLength - 1, data.byteLength]) {
      const a = data.subarray(0, cut);
      const b = data.subarray(cut);
      expect(crc32cCombine(crc32c(a), crc32c(b), b.byteLength)).toBe(crc32c(data));
    }
    // Folding block by block, as a chunk server checks a push.
    let whole = 0;
    for (let at = 0; at < data.byteLength; at += BLOCK_BYTES) {
      const part = data.subarray(at, Math.min(at + BLOCK_BYTES, data.byteLength));
      whole = crc32cCombine(whole, crc32c(part), part.byteLength);
    }
    expect(whole).toBe(crc32c(data));
  });

  test("combining is exact for lengths seen often (table path) and once (multiplication path)", () => {
    const data = randomBytes(40_000, 11);
    // Every length several times, so the repeated ones go through their shift tables.
    for (let round = 0; round < 3; round++) {
      for (const len of [1, 2, 3, 8, 255, 256, 1052, 1080, 4096, 39_999]) {
        const cut = (len * 7 + round * 13) % (data.byteLength - len);
        const a = data.subarray(0, cut);
        const b = data.subarray(cut, cut + len);
        expect(crc32cCombine(crc32c(a), crc32c(b), len)).toBe(crc32c(data.subarray(0, cut + len)));
      }
    }
    // More lengths than tables are kept: old tables are dropped, results stay exact.
    for (let len = 100; len < 140; len++) {
      for (let k = 0; k < 2; k++) expect(crc32cCombine(0xdeadbeef, crc32c(data.subarray(0, len)), len)).toBe(crc32cExtend(0xdeadbeef, data.subarray(0, len)));
    }
  });

  test("block checksums cover 64 KiB blocks with a partial last one", () => {
    const data = randomBytes(BLOCK_BYTES * 2 + 10, 4);
    const sums = blockChecksums(data);
    expect(sums).toHaveLength(3);
    expect(sums[2]).toBe(crc32c(data.subarray(2 * BLOCK_BYTES)));
  });
});
