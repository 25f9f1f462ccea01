// The chunk table (M3, M7): version, size and reference count per chunk
// handle, in typed arrays indexed by the handle itself (handles are allocated
// densely from 1, so this is about 12 bytes a chunk).
import { assert } from "../../net/errors";
import { handleName } from "../handles";
import type { Handle } from "../../net/messages";

export interface ChunkInfo {
  version: number;
  sizeBytes: number;
  refs: number;
}

const MAX_HANDLE = 2 ** 32 - 1;

export class ChunkTable {
  private version: Uint32Array<ArrayBuffer> = new Uint32Array(1024); // 0: no such chunk (versions start at 1)
  private sizeBytes: Uint32Array<ArrayBuffer> = new Uint32Array(1024);
  private refs: Uint32Array<ArrayBuffer> = new Uint32Array(1024);
  /** Ceilings above the version plus one (versions.ts); few: only chunks whose first raise in a run has not been logged yet. */
  private readonly ceilings = new Map<Handle, number>();
  /** Chunks in the table. */
  size = 0;

  has(h: Handle): boolean {
    return h > 0 && h < this.version.length && this.version[h]! !== 0;
  }

  /** A copy of the chunk's fields, or undefined. */
  get(h: Handle): ChunkInfo | undefined {
    if (!this.has(h)) return undefined;
    return { version: this.version[h]!, sizeBytes: this.sizeBytes[h]!, refs: this.refs[h]! };
  }

  versionOf(h: Handle): number {
    return this.has(h) ? this.version[h]! : 0;
  }

  sizeOf(h: Handle): number {
    return this.has(h) ? this.sizeBytes[h]! : 0;
  }

  add(h: Handle, version: number, sizeBytes = 0): void {
    assert(Number.isInteger(h) && h > 0 && h <= MAX_HANDLE, `chunk handle ${h} fits the table`);
    assert(!this.has(h), `chunk handle ${h} is new`);
    assert(version >= 1 && version <= 0xffffffff, `chunk version ${version} is from 1 to 2^32-1`);
    this.ensure(h);
    this.version[h] = version;
    this.sizeBytes[h] = sizeBytes;
    this.refs[h] = 1;
    this.size++;
  }

  setVersion(h: Handle, version: number): void {
    assert(this.has(h), `chunk ${handleName(h)} exists`);
    assert(version >= this.version[h]!, `chunk ${handleName(h)} version never goes back (${this.version[h]} -> ${version})`);
    assert(version <= 0xffffffff, "chunk versions fit 32 bits");
    this.version[h] = version;
    const c = this.ceilings.get(h);
    if (c !== undefined && c <= version + 1) this.ceilings.delete(h);
  }

  /** The highest version a replica may have been sent (versions.ts): at least the version plus one. */
  ceilingOf(h: Handle): number {
    if (!this.has(h)) return 0;
    return Math.max(this.ceilings.get(h) ?? 0, this.version[h]! + 1);
  }

  /** Records that replicas may be sent versions up to `ceiling`. */
  raiseCeiling(h: Handle, ceiling: number): void {
    assert(this.has(h), `chunk ${handleName(h)} exists`);
    assert(ceiling >= this.ceilingOf(h), `chunk ${handleName(h)} ceiling never goes back (${this.ceilingOf(h)} -> ${ceiling})`);
    assert(ceiling <= 0xffffffff, "chunk versions fit 32 bits");
    if (ceiling > this.version[h]! + 1) this.ceilings.set(h, ceiling);
  }

  /** Every ceiling above its chunk's version plus one, as [handle, ceiling] pairs (checkpoints). */
  raisedCeilings(): Array<[Handle, number]> {
    return [...this.ceilings];
  }

  setSize(h: Handle, sizeBytes: number): void {
    if (this.has(h)) this.sizeBytes[h] = sizeBytes;
  }

  /** Raises the known size (reports only ever add bytes). */
  raiseSize(h: Handle, sizeBytes: number): void {
    if (this.has(h) && sizeBytes > this.sizeBytes[h]!) this.sizeBytes[h] = sizeBytes;
  }

  addRef(h: Handle): void {
    assert(this.has(h), `chunk ${handleName(h)} exists`);
    this.refs[h]!++;
  }

  /** Drops one reference; returns true when none is left and the chunk is gone. */
  release(h: Handle): boolean {
    if (!this.has(h)) return false;
    assert(this.refs[h]! > 0, `chunk ${handleName(h)} reference count stays non-negative`);
    if (--this.refs[h]! > 0) return false;
    this.version[h] = 0;
    this.sizeBytes[h] = 0;
    this.ceilings.delete(h);
    this.size--;
    return true;
  }

  private ensure(h: Handle): void {
    if (h < this.version.length) return;
    const n = Math.min(MAX_HANDLE + 1, Math.max(h + 1, Math.ceil(this.version.length * 1.5)));
    this.version = grow(this.version, n);
    this.sizeBytes = grow(this.sizeBytes, n);
    this.refs = grow(this.refs, n);
  }
}

function grow(a: Uint32Array, n: number): Uint32Array<ArrayBuffer> {
  const b = new Uint32Array(n);
  b.set(a);
  return b;
}
