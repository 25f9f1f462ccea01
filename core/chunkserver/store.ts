// Chunk files on local disk (C1, C2, C5). Each chunk is two files:
//   <handle>.chunk  the bytes, nothing else; its length is the chunk's length
//   <handle>.meta   a 24-byte header (magic, format, chunk version, CRC32C of
//                   those 16 bytes) then one CRC32C per 64 KiB block of the data
// Data is written before its checksums, so a crash between the two leaves a
// block whose checksum does not match: detected on read, never served.
// The length is checked against the checksums at load: a data file shorter
// than its checksums cover was truncated, one longer holds bytes never
// checksummed; both mark the replica damaged (C5). A damaged header (a flipped
// bit in the version) does too, so a damaged replica is never reported.
import { closeSync, copyFileSync, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, readSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { ErrorCode, GfsError, assert } from "../../net/errors";
import type { ChunkReport, Handle } from "../../net/messages";
import { handleName } from "../handles";
import { BLOCK_BYTES, crc32c, crc32cCombine } from "../checksums";
import type { Pushed } from "./push-buffer";

const META_MAGIC = 0x47465343; // "GFSC"
const META_FORMAT = 2;
const META_HEADER_BYTES = 24;
/** Bytes of the header its own checksum covers. */
const META_CHECKED_BYTES = 16;
const MAX_OPEN_FILES = 512;
/** Writes at least this large go to the thread pool instead of blocking the event loop. */
const ASYNC_WRITE_BYTES = 256 * 1024;

export interface ChunkState {
  handle: Handle;
  version: number;
  sizeBytes: number;
  /** Block checksums; length === ceil(sizeBytes / BLOCK_BYTES). */
  crcs: Uint32Array;
  corrupt: boolean;
  /** Why the replica counts as damaged, when it does. */
  damage?: string;
  /** When this replica came to be here, on this store's birth counter (0: found on disk at start). */
  born?: number;
  /** A write past its end failed (a full disk) and was rolled back: its bytes are intact and readable; no more writes here. */
  writeFailed?: boolean;
}

export { handleName } from "../handles";

export class ChunkStore {
  private readonly chunks = new Map<Handle, ChunkState>();
  private readonly open = new Map<string, number>(); // path -> fd, in LRU order
  /** Per chunk, the last queued operation: operations on one chunk run in order. */
  private readonly tails = new Map<Handle, Promise<void>>();
  /** Replicas created here since the start (create, copy or clone): orders a replica against a chunk listing. */
  private births = 0;
  readonly dir: string;

  constructor(dataDir: string, readonly chunkSizeBytes: number) {
    this.dir = join(dataDir, "chunks");
    mkdirSync(this.dir, { recursive: true });
  }

  /**
   * Loads every chunk found on disk. Damaged metadata marks the chunk corrupt.
   * A copy that was still being made when the server stopped (its `.partial`
   * marker is there) is deleted: it holds only part of the chunk.
   */
  load(): { loaded: number; damaged: Handle[]; unfinished: Handle[] } {
    const damaged: Handle[] = [];
    const unfinished: Handle[] = [];
    const names = readdirSync(this.dir);
    for (const name of names) {
      if (!name.endsWith(".partial")) continue;
      const handle = parseInt(name.slice(0, -8), 16);
      if (!Number.isSafeInteger(handle)) continue;
      this.delete(handle);
      unfinished.push(handle);
    }
    const unfinishedSet = new Set(unfinished);
    for (const name of names) {
      if (!name.endsWith(".chunk")) continue;
      const handle = parseInt(name.slice(0, -6), 16);
      if (!Number.isSafeInteger(handle)) continue;
      const state = this.readMeta(handle);
      if (unfinishedSet.has(handle)) continue;
      if (state.corrupt) damaged.push(handle);
      this.chunks.set(handle, state);
    }
    return { loaded: this.chunks.size, damaged, unfinished };
  }

  get count(): number {
    return this.chunks.size;
  }

  /** The birth counter now: replicas created after this moment have a higher `born`. */
  get birthCount(): number {
    return this.births;
  }

  /** Whether `handle` is here and was created at or before `birthCount` was `mark`. */
  hasBornBy(handle: Handle, mark: number): boolean {
    const c = this.chunks.get(handle);
    return c !== undefined && (c.born ?? 0) <= mark;
  }

  has(handle: Handle): boolean {
    return this.chunks.has(handle);
  }

  get(handle: Handle): ChunkState | undefined {
    return this.chunks.get(handle);
  }

  reports(): ChunkReport[] {
    const out: ChunkReport[] = [];
    for (const c of this.chunks.values()) if (!c.corrupt) out.push({ handle: c.handle, version: c.version, size: c.sizeBytes });
    return out;
  }

  usedBytes(): number {
    let n = 0;
    for (const c of this.chunks.values()) n += c.sizeBytes;
    return n;
  }

  /**
   * A new, empty replica. `partial`: a copy about to be filled (a clone),
   * marked on disk until `completed`, so that a restart in the middle
   * deletes it instead of offering part of a chunk as the whole.
   */
  create(handle: Handle, version: number, partial = false): void {
    if (this.chunks.has(handle)) {
      const c = this.chunks.get(handle)!;
      if (c.version === version && c.sizeBytes === 0 && !partial) return; // a retried create
      throw new GfsError(ErrorCode.EXISTS, `chunk ${handleName(handle)} already exists`);
    }
    if (partial) this.onDisk(handle, [this.partialPath(handle)], () => closeSync(openSync(this.partialPath(handle), "w")));
    const meta = new Uint8Array(META_HEADER_BYTES);
    writeHeader(meta, version);
    const tmp = this.metaPath(handle) + ".tmp";
    this.onDisk(handle, [tmp, this.dataPath(handle)], () => {
      const fd = openSync(tmp, "w");
      try {
        writeFully(fd, meta, 0);
      } finally {
        closeSync(fd);
      }
      closeSync(openSync(this.dataPath(handle), "w"));
      renameSync(tmp, this.metaPath(handle));
    });
    this.chunks.set(handle, { handle, version, sizeBytes: 0, crcs: new Uint32Array(0), corrupt: false, born: ++this.births });
  }

  setVersion(handle: Handle, version: number): void {
    const c = this.require(handle);
    assert(version >= c.version, `chunk ${handleName(handle)} version goes back from ${c.version} to ${version}`);
    const header = new Uint8Array(META_HEADER_BYTES);
    writeHeader(header, version);
    writeSync(this.fd(this.metaPath(handle)), header, 0, header.byteLength, 0);
    c.version = version;
  }

  /**
   * Copy-on-write (M15): a new chunk `to` with the bytes and checksums of
   * `from`, at `version`, made after every queued operation on `from`.
   */
  copy(from: Handle, to: Handle, version: number): Promise<number> {
    return this.inOrder(from, () => {
      const c = this.require(from);
      if (c.corrupt) throw new GfsError(ErrorCode.CHECKSUM, `chunk ${handleName(from)} is corrupt here`);
      const existing = this.chunks.get(to);
      if (existing) {
        if (existing.version === version && existing.sizeBytes === c.sizeBytes) return c.sizeBytes; // a retried copy
        throw new GfsError(ErrorCode.EXISTS, `chunk ${handleName(to)} already exists`);
      }
      const meta = new Uint8Array(META_HEADER_BYTES + c.crcs.byteLength);
      writeHeader(meta, version);
      meta.set(new Uint8Array(c.crcs.buffer, c.crcs.byteOffset, c.crcs.byteLength), META_HEADER_BYTES);
      const tmp = this.metaPath(to) + ".tmp";
      this.onDisk(to, [this.dataPath(to), tmp], () => {
        copyFileSync(this.dataPath(from), this.dataPath(to));
        writeFileSync(tmp, meta);
        renameSync(tmp, this.metaPath(to));
      });
      this.chunks.set(to, { handle: to, version, sizeBytes: c.sizeBytes, crcs: c.crcs.slice(), corrupt: false, born: ++this.births });
      return c.sizeBytes;
    });
  }

  markCorrupt(handle: Handle): void {
    const c = this.chunks.get(handle);
    if (c) c.corrupt = true;
  }

  /** A copy made with `create(..., partial)` is whole: the marker goes (after every write queued on it). */
  completed(handle: Handle): Promise<void> {
    return this.inOrder(handle, () => {
      try {
        unlinkSync(this.partialPath(handle));
      } catch {}
    });
  }

  delete(handle: Handle): void {
    this.chunks.delete(handle);
    // The marker last: a restart in the middle still finds the copy unfinished.
    for (const p of [this.dataPath(handle), this.metaPath(handle), this.partialPath(handle)]) {
      this.closeFd(p);
      try {
        unlinkSync(p);
      } catch {}
    }
  }

  /**
   * Reads [offset, offset+length) clipped to the chunk's length, verifying every
   * block it touches first (C2). Throws CHECKSUM on a mismatch.
   */
  private readNow(handle: Handle, offset: number, length: number): Uint8Array {
    const c = this.require(handle);
    if (c.corrupt) throw new GfsError(ErrorCode.CHECKSUM, `chunk ${handleName(handle)} is corrupt here`);
    assert(offset >= 0 && length >= 0, "read range is non-negative");
    const end = Math.min(offset + length, c.sizeBytes);
    if (offset >= end) return new Uint8Array(0);
    const firstBlock = Math.floor(offset / BLOCK_BYTES);
    const lastBlock = Math.floor((end - 1) / BLOCK_BYTES);
    const from = firstBlock * BLOCK_BYTES;
    const to = Math.min((lastBlock + 1) * BLOCK_BYTES, c.sizeBytes);
    const buf = this.readRaw(handle, from, to - from);
    for (let b = firstBlock; b <= lastBlock; b++) {
      const s = (b - firstBlock) * BLOCK_BYTES;
      const block = buf.subarray(s, Math.min(s + BLOCK_BYTES, buf.byteLength));
      if (crc32c(block) !== c.crcs[b]) {
        c.corrupt = true;
        throw new GfsError(ErrorCode.CHECKSUM, `checksum mismatch in chunk ${handleName(handle)} block ${b}`);
      }
    }
    return buf.subarray(offset - from, end - from);
  }

  /**
   * Writes `data` at `offset` (D5), after every earlier operation on the same
   * chunk. Blocks partly covered that already hold data are verified before
   * being merged; a pure append to a partial block extends its checksum
   * without reading the old bytes. Large writes run on the thread pool so the
   * server keeps moving data meanwhile; the chunk's length and checksums
   * change only once the bytes are written.
   */
  write(handle: Handle, offset: number, input: Uint8Array | Pushed | Promise<Pushed>): Promise<number> {
    if (input instanceof Promise) {
      // The data may still be travelling: this write keeps its place in the
      // chunk's order and runs once the bytes are here (or fails with them).
      input.catch(() => {});
      return this.inOrder(handle, async () => {
        const { data, crc } = await input;
        return this.writeNow(handle, offset, data, crc);
      });
    }
    if (input instanceof Uint8Array) return this.inOrder(handle, () => this.writeNow(handle, offset, input));
    return this.inOrder(handle, () => this.writeNow(handle, offset, input.data, input.crc));
  }

  /** Reads after every earlier operation on the chunk (see `readNow`). */
  read(handle: Handle, offset: number, length: number): Promise<Uint8Array> {
    return this.inOrder(handle, () => this.readNow(handle, offset, length));
  }

  private inOrder<T>(handle: Handle, fn: () => T | Promise<T>): Promise<T> {
    const prev = this.tails.get(handle);
    const run = prev ? prev.then(fn) : Promise.resolve().then(fn);
    const tail = run.then(
      () => {},
      () => {},
    );
    this.tails.set(handle, tail);
    tail.then(() => {
      if (this.tails.get(handle) === tail) this.tails.delete(handle);
    });
    return run;
  }

  /**
   * `expectedCrc` is the CRC32C the data's sender computed: bytes damaged on
   * the way are refused (NO_DATA: push again) before anything is written.
   * It is checked from the block checksums computed here anyway.
   */
  private async writeNow(handle: Handle, offset: number, data: Uint8Array, expectedCrc?: number): Promise<number> {
    const c = this.require(handle);
    if (c.corrupt) throw new GfsError(ErrorCode.CHECKSUM, `chunk ${handleName(handle)} is corrupt here`);
    assert(offset >= 0, "write offset is non-negative");
    if (offset + data.byteLength > this.chunkSizeBytes) {
      throw new GfsError(ErrorCode.INVALID_ARGUMENT, `write of ${data.byteLength} bytes at ${offset} passes the chunk size ${this.chunkSizeBytes}`);
    }
    if (c.writeFailed) throw new GfsError(ErrorCode.DISK, `chunk ${handleName(handle)}: writes are refused here since one failed on this disk`);
    if (data.byteLength === 0) return c.sizeBytes;
    if (offset > c.sizeBytes) {
      // A hole: fill it with zeros so every byte below the length has a checksum.
      if (expectedCrc !== undefined) checkArrived(handle, crc32c(data), expectedCrc);
      const filled = new Uint8Array(offset - c.sizeBytes + data.byteLength);
      filled.set(data, offset - c.sizeBytes);
      return this.writeNow(handle, c.sizeBytes, filled);
    }
    const oldSize = c.sizeBytes;
    const end = offset + data.byteLength;
    const newSize = Math.max(oldSize, end);
    const firstBlock = Math.floor(offset / BLOCK_BYTES);
    const lastBlock = Math.floor((end - 1) / BLOCK_BYTES);
    // New checksums are computed first and committed only after the data write,
    // so a failed verification or write leaves the chunk's state untouched.
    const updated: number[] = [];
    let arrivedCrc = 0; // CRC32C of the data, folded from its parts
    for (let b = firstBlock; b <= lastBlock; b++) {
      const blockStart = b * BLOCK_BYTES;
      const blockEnd = Math.min(blockStart + BLOCK_BYTES, newSize);
      const oldBlockEnd = Math.min(blockStart + BLOCK_BYTES, oldSize);
      const dataFrom = Math.max(offset, blockStart);
      const dataTo = Math.min(end, blockEnd);
      const part = data.subarray(dataFrom - offset, dataTo - offset);
      const partCrc = crc32c(part);
      arrivedCrc = crc32cCombine(arrivedCrc, partCrc, part.byteLength);
      if (oldBlockEnd <= blockStart || (dataFrom === blockStart && dataTo >= oldBlockEnd)) {
        // No old bytes survive in this block.
        updated.push(partCrc);
      } else if (dataFrom === oldBlockEnd) {
        // Pure append into a partial block: extend the stored checksum.
        updated.push(crc32cCombine(c.crcs[b]!, partCrc, part.byteLength));
      } else {
        // Overwrite inside old bytes: verify the old block, then merge.
        const old = this.readRaw(handle, blockStart, oldBlockEnd - blockStart);
        if (crc32c(old) !== c.crcs[b]) {
          c.corrupt = true;
          throw new GfsError(ErrorCode.CHECKSUM, `checksum mismatch in chunk ${handleName(handle)} block ${b} before overwrite`);
        }
        const merged = new Uint8Array(blockEnd - blockStart);
        merged.set(old);
        merged.set(part, dataFrom - blockStart);
        updated.push(crc32c(merged));
      }
    }
    if (expectedCrc !== undefined) checkArrived(handle, arrivedCrc, expectedCrc);
    const dataPath = this.dataPath(handle);
    // A write past the end touches no old byte: when it fails it can be undone.
    const appending = offset >= oldSize;
    try {
      if (data.byteLength >= ASYNC_WRITE_BYTES) await writeFullyAsync(dataPath, data, offset);
      else writeFully(this.fd(dataPath), data, offset);
    } catch (err) {
      throw appending ? this.rolledBack(c, oldSize, c.crcs, err) : this.failedWrite(c, err);
    }
    if (!this.chunks.has(handle)) throw new GfsError(ErrorCode.STALE, `chunk ${handleName(handle)} was deleted during a write`);
    // Only the blocks this write touches change: their old checksums are all an undo needs.
    const touchedBefore = c.crcs.slice(firstBlock, lastBlock + 1);
    const blocks = Math.ceil(newSize / BLOCK_BYTES);
    const crcs = c.crcs.length >= blocks ? c.crcs : growCrcs(c.crcs, blocks);
    crcs.set(updated, firstBlock);
    c.crcs = crcs;
    c.sizeBytes = newSize;
    const crcBytes = new Uint8Array(crcs.buffer, crcs.byteOffset + firstBlock * 4, (lastBlock - firstBlock + 1) * 4);
    try {
      writeFully(this.fd(this.metaPath(handle)), crcBytes, META_HEADER_BYTES + firstBlock * 4);
    } catch (err) {
      if (!appending) throw this.failedWrite(c, err);
      crcs.set(touchedBefore, firstBlock);
      throw this.rolledBack(c, oldSize, crcs, err);
    }
    return newSize;
  }

  /** Checks every block of a chunk against its checksum. */
  async verify(handle: Handle): Promise<boolean> {
    const c = this.chunks.get(handle);
    if (!c || c.corrupt) return false;
    try {
      await this.read(handle, 0, c.sizeBytes);
      return true;
    } catch {
      return false;
    }
  }

  closeAll(): void {
    for (const fd of this.open.values()) closeSync(fd);
    this.open.clear();
  }

  // ---- internals ----

  /**
   * A data or checksum write that failed (a full disk, an I/O error) leaves
   * the replica's bytes unknown: it is marked damaged, never served or
   * written again, and the write is refused with DISK.
   */
  /**
   * A write past the end failed: the data file goes back to `oldSize` and the
   * checksums to `oldCrcs`, on disk and in memory, so the bytes that were
   * there stay readable; the replica takes no more writes. If the undoing
   * fails too, the replica is damaged.
   */
  private rolledBack(c: ChunkState, oldSize: number, oldCrcs: Uint32Array, err: unknown): GfsError {
    try {
      ftruncateSync(this.fd(this.dataPath(c.handle)), oldSize);
      const blocks = Math.ceil(oldSize / BLOCK_BYTES);
      const meta = this.fd(this.metaPath(c.handle));
      if (blocks > 0) writeFully(meta, new Uint8Array(oldCrcs.buffer, oldCrcs.byteOffset, blocks * 4), META_HEADER_BYTES);
      ftruncateSync(meta, META_HEADER_BYTES + blocks * 4);
      c.crcs = oldCrcs.slice(0, blocks);
      c.sizeBytes = oldSize;
      c.writeFailed = true;
      return diskError(c.handle, err);
    } catch {
      return this.failedWrite(c, err);
    }
  }

  private failedWrite(c: ChunkState, err: unknown): GfsError {
    c.corrupt = true;
    return diskError(c.handle, err);
  }

  /** Runs file operations that make a new chunk; if one fails, what they made is removed and DISK thrown. */
  private onDisk(handle: Handle, made: string[], fn: () => void): void {
    try {
      fn();
    } catch (err) {
      for (const p of made) {
        try {
          unlinkSync(p);
        } catch {}
      }
      throw diskError(handle, err);
    }
  }

  private require(handle: Handle): ChunkState {
    const c = this.chunks.get(handle);
    if (!c) throw new GfsError(ErrorCode.NOT_FOUND, `no chunk ${handleName(handle)} here`);
    return c;
  }

  private dataPath(handle: Handle): string {
    return join(this.dir, `${handleName(handle)}.chunk`);
  }

  private metaPath(handle: Handle): string {
    return join(this.dir, `${handleName(handle)}.meta`);
  }

  private partialPath(handle: Handle): string {
    return join(this.dir, `${handleName(handle)}.partial`);
  }

  private readRaw(handle: Handle, at: number, length: number): Uint8Array {
    const buf = Buffer.allocUnsafeSlow(length); // filled by readSync; a short read is an error below
    const fd = this.fd(this.dataPath(handle));
    let got = 0;
    while (got < length) {
      const n = readSync(fd, buf, got, length - got, at + got);
      if (n <= 0) break;
      got += n;
    }
    if (got < length) {
      this.markCorrupt(handle);
      throw new GfsError(ErrorCode.CHECKSUM, `chunk ${handleName(handle)} is shorter on disk than recorded`);
    }
    return buf;
  }

  private readMeta(handle: Handle): ChunkState {
    const state: ChunkState = { handle, version: 0, sizeBytes: 0, crcs: new Uint32Array(0), corrupt: false };
    const damaged = (why: string) => {
      state.corrupt = true;
      state.damage ??= why;
    };
    try {
      state.sizeBytes = statSync(this.dataPath(handle)).size;
      const mpath = this.metaPath(handle);
      if (!existsSync(mpath)) throw new Error("no meta file");
      const mfd = this.fd(mpath);
      const metaSize = fstatSync(mfd).size;
      const meta = new Uint8Array(metaSize);
      readSync(mfd, meta, 0, metaSize, 0);
      const dv = new DataView(meta.buffer);
      if (metaSize < META_HEADER_BYTES || dv.getUint32(0) !== META_MAGIC || dv.getUint32(4) !== META_FORMAT) throw new Error("meta header is not a format-2 header");
      if (crc32c(meta.subarray(0, META_CHECKED_BYTES)) !== dv.getUint32(META_CHECKED_BYTES)) throw new Error("meta header fails its checksum");
      state.version = dv.getUint32(8) * 2 ** 32 + dv.getUint32(12);
      const blocks = Math.ceil(state.sizeBytes / BLOCK_BYTES);
      state.crcs = new Uint32Array(blocks);
      const stored = Math.floor((metaSize - META_HEADER_BYTES) / 4);
      // Native byte order: the file is only ever read by the machine that wrote it.
      const n = Math.min(blocks, stored);
      state.crcs.set(new Uint32Array(meta.buffer.slice(META_HEADER_BYTES, META_HEADER_BYTES + n * 4)));
      if (stored > blocks) damaged(`data file is ${state.sizeBytes} bytes, shorter than its ${stored} block checksums cover (truncated)`);
      if (stored < blocks) damaged(`data file is ${state.sizeBytes} bytes, longer than its ${stored} block checksums cover`);
      if (state.sizeBytes > this.chunkSizeBytes) damaged(`data file is ${state.sizeBytes} bytes, over the chunk size`);
    } catch (err) {
      damaged((err as Error).message);
    }
    return state;
  }

  private fd(path: string): number {
    const fd = this.open.get(path);
    if (fd !== undefined) {
      this.open.delete(path);
      this.open.set(path, fd);
      return fd;
    }
    if (this.open.size >= MAX_OPEN_FILES) {
      const [oldest, ofd] = this.open.entries().next().value as [string, number];
      this.open.delete(oldest);
      closeSync(ofd);
    }
    const nfd = openSync(path, "r+");
    this.open.set(path, nfd);
    return nfd;
  }

  private closeFd(path: string): void {
    const fd = this.open.get(path);
    if (fd !== undefined) {
      this.open.delete(path);
      closeSync(fd);
    }
  }
}

function checkArrived(handle: Handle, crc: number, expected: number): void {
  if (crc !== expected >>> 0) throw new GfsError(ErrorCode.NO_DATA, `data for chunk ${handleName(handle)} arrived damaged (CRC32C ${crc.toString(16)}, sent as ${(expected >>> 0).toString(16)}); not written`);
}

function writeHeader(buf: Uint8Array, version: number): void {
  assert(Number.isSafeInteger(version) && version >= 0, "chunk version is a safe integer");
  const dv = new DataView(buf.buffer, buf.byteOffset, META_HEADER_BYTES);
  dv.setUint32(0, META_MAGIC);
  dv.setUint32(4, META_FORMAT);
  dv.setUint32(8, Math.floor(version / 2 ** 32));
  dv.setUint32(12, version >>> 0);
  dv.setUint32(META_CHECKED_BYTES, crc32c(buf.subarray(0, META_CHECKED_BYTES)));
  dv.setUint32(META_CHECKED_BYTES + 4, 0);
}

function growCrcs(crcs: Uint32Array, blocks: number): Uint32Array {
  const n = new Uint32Array(blocks);
  n.set(crcs);
  return n;
}

/** A write on the thread pool, with its own descriptor (the cache may close shared ones). */
function diskError(handle: Handle, err: unknown): GfsError {
  const e = err as NodeJS.ErrnoException;
  return new GfsError(ErrorCode.DISK, `chunk ${handleName(handle)}: disk write failed (${e.code ?? e.message ?? String(err)})`);
}

async function writeFullyAsync(path: string, data: Uint8Array, position: number): Promise<void> {
  const fh = await open(path, "r+");
  try {
    let done = 0;
    while (done < data.byteLength) done += (await fh.write(data, done, data.byteLength - done, position + done)).bytesWritten;
  } finally {
    await fh.close();
  }
}

function writeFully(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.byteLength) {
    done += writeSync(fd, data, done, data.byteLength - done, position + done);
  }
}
