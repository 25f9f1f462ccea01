// The namespace tree (M1, M7), stored compactly: every node (file or
// directory) is a row in typed-array columns indexed by node id, names are
// UTF-8 bytes in one arena, and an open-addressing hash index maps
// (parent id, name) to a node id. Children of a directory form a doubly
// linked list for listing and O(1) removal. About 60 bytes a file, against
// several hundred for a tree of JavaScript objects and Maps.
import { assert } from "../../net/errors";
import type { Handle } from "../../net/messages";

export const ROOT = 1;
const NO_TRASH = 1;
const FREE = 0;
const DIR = 1;
const FILE = 2;
const EMPTY = 0;
const TOMBSTONE = 0xffffffff;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Namespace {
  private cap = 0;
  private kind!: Uint8Array;
  private repl!: Uint8Array;
  /** Per node: NO_TRASH (a directory whose removals skip the trash). */
  private flags!: Uint8Array;
  private nameLen!: Uint8Array;
  private parentId!: Uint32Array;
  private nameStart!: Uint32Array;
  private firstChild!: Uint32Array;
  private nextSib!: Uint32Array;
  private prevSib!: Uint32Array;
  private chunk0!: Uint32Array;
  private nchunks!: Uint32Array;
  private mtime!: Float64Array;
  /** Full chunk lists of files with more than one chunk. */
  private readonly moreChunks = new Map<number, Handle[]>();
  private readonly free: number[] = [];
  private nextId = ROOT + 1;

  private names = new Uint8Array(64 * 1024);
  private namesUsed = 0;
  private namesWasted = 0;

  private index = new Uint32Array(1024);
  private indexFilled = 0; // live entries and tombstones

  private readonly scratch = new Uint8Array(1024);

  fileCount = 0;
  dirCount = 1;

  constructor() {
    this.resize(1024);
    this.kind[ROOT] = DIR;
  }

  // ---- reading ----

  isDir(id: number): boolean {
    return this.kind[id] === DIR;
  }

  isFile(id: number): boolean {
    return this.kind[id] === FILE;
  }

  mtimeOf(id: number): number {
    return this.mtime[id]!;
  }

  replicationOf(id: number): number {
    return this.repl[id]!;
  }

  parentOf(id: number): number {
    return this.parentId[id]!;
  }

  nameOf(id: number): string {
    const s = this.nameStart[id]!;
    return decoder.decode(this.names.subarray(s, s + this.nameLen[id]!));
  }

  /** Every file's id. */
  *fileIds(): Generator<number> {
    for (let id = ROOT + 1; id < this.nextId; id++) if (this.kind[id] === FILE) yield id;
  }

  chunkCount(id: number): number {
    return this.nchunks[id]!;
  }

  chunkAt(id: number, i: number): Handle {
    if (this.nchunks[id]! === 1) return this.chunk0[id]!;
    return this.moreChunks.get(id)![i]!;
  }

  chunks(id: number): Handle[] {
    const n = this.nchunks[id]!;
    if (n === 0) return [];
    if (n === 1) return [this.chunk0[id]!];
    return [...this.moreChunks.get(id)!];
  }

  hasChildren(id: number): boolean {
    return this.firstChild[id]! !== 0;
  }

  *children(id: number): Generator<number> {
    for (let c = this.firstChild[id]!; c !== 0; c = this.nextSib[c]!) yield c;
  }

  /** The child of `parent` called `name`, or 0. */
  child(parent: number, name: string): number {
    const len = this.encodeName(name);
    let slot = this.hash(parent, this.scratch, len) & (this.index.length - 1);
    for (;;) {
      const id = this.index[slot]!;
      if (id === EMPTY) return 0;
      if (id !== TOMBSTONE && this.parentId[id] === parent && this.nameEquals(id, this.scratch, len)) return id;
      slot = (slot + 1) & (this.index.length - 1);
    }
  }

  // ---- changing ----

  addDir(parent: number, name: string, mtimeMs: number): number {
    const id = this.addNode(parent, name, DIR, mtimeMs);
    this.dirCount++;
    return id;
  }

  addFile(parent: number, name: string, replication: number, mtimeMs: number): number {
    assert(replication >= 1 && replication <= 255, "replication fits a byte");
    const id = this.addNode(parent, name, FILE, mtimeMs);
    this.repl[id] = replication;
    this.fileCount++;
    return id;
  }

  /** Whether removals below directory `id` skip the trash. */
  noTrash(id: number): boolean {
    return (this.flags[id]! & NO_TRASH) !== 0;
  }

  setNoTrash(id: number, on: boolean): void {
    assert(this.kind[id] === DIR, "only directories skip the trash");
    this.flags[id] = on ? this.flags[id]! | NO_TRASH : this.flags[id]! & ~NO_TRASH;
  }

  /** A file's replication target, or a directory's for files created below it (0: inherit). */
  setReplication(id: number, replication: number): void {
    assert(Number.isInteger(replication) && replication >= (this.kind[id] === FILE ? 1 : 0) && replication <= 255, "replication fits a byte");
    this.repl[id] = replication;
  }

  appendChunk(id: number, h: Handle): void {
    assert(this.kind[id] === FILE, "chunks belong to files");
    assert(h > 0 && h <= 0xffffffff, `chunk handle ${h} fits 32 bits here`);
    const n = this.nchunks[id]!;
    if (n === 0) this.chunk0[id] = h;
    else if (n === 1) this.moreChunks.set(id, [this.chunk0[id]!, h]);
    else this.moreChunks.get(id)!.push(h);
    this.nchunks[id] = n + 1;
  }

  setMtime(id: number, mtimeMs: number): void {
    this.mtime[id] = mtimeMs;
  }

  /** Moves node `id` to `parent` under `name` (the target name must be free). */
  move(id: number, parent: number, name: string): void {
    this.unindex(id);
    this.unlink(id);
    this.namesWasted += this.nameLen[id]!;
    this.setName(id, name);
    this.parentId[id] = parent;
    this.link(id, parent);
    this.indexNode(id);
    this.maybeCompactNames();
  }

  /** Removes a node and everything below it; calls `onFile` for every file removed. */
  remove(id: number, onFile: (fileId: number) => void): void {
    assert(id !== ROOT, "the root is never removed");
    this.unindex(id);
    this.unlink(id);
    const stack = [id];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (this.kind[n] === DIR) {
        for (let c = this.firstChild[n]!; c !== 0; c = this.nextSib[c]!) {
          this.unindex(c);
          stack.push(c);
        }
        this.dirCount--;
      } else {
        onFile(n);
        this.fileCount--;
      }
      this.freeNode(n);
    }
    this.maybeCompactNames();
  }

  /**
   * Copies node `id` (and everything below it) to `parent` under `name`, with
   * each node's replication and flags; calls `onChunk` for every chunk
   * reference copied. Returns the new node.
   */
  copyTree(id: number, parent: number, name: string, mtimeMs: number, onChunk: (h: Handle) => void): number {
    // Below the top, names are copied as the bytes they are stored as (no decoding and encoding per node).
    const copyOne = (src: number, to: number, as: string | null): number => {
      const isDir = this.kind[src] === DIR;
      const n = as === null ? this.addNodeNamedAs(to, src, isDir ? DIR : FILE, isDir ? mtimeMs : this.mtime[src]!) : this.addNode(to, as, isDir ? DIR : FILE, isDir ? mtimeMs : this.mtime[src]!);
      // A directory keeps what it says of files below it: their replication, and whether removals skip the trash.
      this.repl[n] = this.repl[src]!;
      if (isDir) {
        this.flags[n] = this.flags[src]!;
        this.dirCount++;
        for (const c of [...this.children(src)]) copyOne(c, n, null);
        return n;
      }
      this.fileCount++;
      for (const h of this.chunks(src)) {
        this.appendChunk(n, h);
        onChunk(h);
      }
      return n;
    };
    return copyOne(id, parent, name);
  }

  /** Replaces chunk `i` of a file (copy-on-write gives the file its own copy). */
  replaceChunk(id: number, i: number, h: Handle): void {
    assert(this.kind[id] === FILE && i < this.nchunks[id]!, "the chunk exists");
    if (this.nchunks[id] === 1) this.chunk0[id] = h;
    else this.moreChunks.get(id)![i] = h;
  }

  /** Every node below the root, parents before children, with its path. */
  /** Every node below `top` (whose path is `prefix`, "" for the root), with its path. */
  *walk(top = ROOT, prefix = ""): Generator<[string, number]> {
    const stack: [number, string][] = [[top, prefix]];
    while (stack.length > 0) {
      const [dir, path] = stack.pop()!;
      const kids: number[] = [...this.children(dir)];
      for (const c of kids) {
        const p = `${path}/${this.nameOf(c)}`;
        yield [p, c];
        if (this.kind[c] === DIR) stack.push([c, p]);
      }
    }
  }

  // ---- internals ----

  private addNode(parent: number, name: string, kind: number, mtimeMs: number): number {
    const len = this.encodeName(name);
    return this.addNodeNamed(parent, this.scratch, len, kind, mtimeMs);
  }

  /** A new node under `parent` with the name of node `like`. */
  private addNodeNamedAs(parent: number, like: number, kind: number, mtimeMs: number): number {
    const s = this.nameStart[like]!;
    return this.addNodeNamed(parent, this.names.subarray(s, s + this.nameLen[like]!), this.nameLen[like]!, kind, mtimeMs);
  }

  /** A new node named by the first `len` bytes of `name` (UTF-8). */
  private addNodeNamed(parent: number, name: Uint8Array, len: number, kind: number, mtimeMs: number): number {
    assert(this.kind[parent] === DIR, "a node's parent is a directory");
    const id = this.free.length > 0 ? this.free.pop()! : this.nextId++;
    if (id >= this.cap) this.resize(Math.ceil(this.cap * 1.5));
    this.kind[id] = kind;
    this.parentId[id] = parent;
    this.mtime[id] = mtimeMs;
    this.repl[id] = 0;
    this.flags[id] = 0;
    this.firstChild[id] = 0;
    this.nchunks[id] = 0;
    this.chunk0[id] = 0;
    this.setNameBytes(id, name, len);
    this.link(id, parent);
    this.indexNode(id);
    return id;
  }

  private freeNode(id: number): void {
    this.namesWasted += this.nameLen[id]!;
    this.kind[id] = FREE;
    this.moreChunks.delete(id);
    this.nchunks[id] = 0;
    this.free.push(id);
  }

  private link(id: number, parent: number): void {
    const head = this.firstChild[parent]!;
    this.prevSib[id] = 0;
    this.nextSib[id] = head;
    if (head !== 0) this.prevSib[head] = id;
    this.firstChild[parent] = id;
  }

  private unlink(id: number): void {
    const prev = this.prevSib[id]!;
    const next = this.nextSib[id]!;
    if (prev !== 0) this.nextSib[prev] = next;
    else this.firstChild[this.parentId[id]!] = next;
    if (next !== 0) this.prevSib[next] = prev;
    this.prevSib[id] = 0;
    this.nextSib[id] = 0;
  }

  private setName(id: number, name: string): void {
    this.setNameBytes(id, this.scratch, this.encodeName(name));
  }

  /** Stores the first `len` bytes of `name` as node `id`'s name (`name` may be a view of the arena: its bytes stay readable when the arena grows). */
  private setNameBytes(id: number, name: Uint8Array, len: number): void {
    if (this.namesUsed + len > this.names.length) {
      const bigger = new Uint8Array(Math.ceil(Math.max(this.names.length * 1.5, this.namesUsed + len + 1024)));
      bigger.set(this.names.subarray(0, this.namesUsed));
      this.names = bigger;
    }
    this.names.set(name.subarray(0, len), this.namesUsed);
    this.nameStart[id] = this.namesUsed;
    this.nameLen[id] = len;
    this.namesUsed += len;
  }

  private encodeName(name: string): number {
    const { read, written } = encoder.encodeInto(name, this.scratch);
    assert(read === name.length && written <= 255, `name '${name.slice(0, 40)}' is at most 255 bytes`);
    return written;
  }

  private nameEquals(id: number, bytes: Uint8Array, len: number): boolean {
    if (this.nameLen[id] !== len) return false;
    const s = this.nameStart[id]!;
    for (let i = 0; i < len; i++) if (this.names[s + i] !== bytes[i]) return false;
    return true;
  }

  private hash(parent: number, bytes: Uint8Array, len: number): number {
    let h = (0x811c9dc5 ^ Math.imul(parent, 0x9e3779b1)) >>> 0;
    for (let i = 0; i < len; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
    return (h ^ (h >>> 15)) >>> 0;
  }

  private indexNode(id: number): void {
    if ((this.indexFilled + 1) * 2 > this.index.length) {
      this.rebuildIndex(); // indexes every live node, this one included
      return;
    }
    const s = this.nameStart[id]!;
    let slot = this.hash(this.parentId[id]!, this.names.subarray(s), this.nameLen[id]!) & (this.index.length - 1);
    while (this.index[slot] !== EMPTY && this.index[slot] !== TOMBSTONE) slot = (slot + 1) & (this.index.length - 1);
    if (this.index[slot] === EMPTY) this.indexFilled++;
    this.index[slot] = id;
  }

  private unindex(id: number): void {
    const s = this.nameStart[id]!;
    let slot = this.hash(this.parentId[id]!, this.names.subarray(s), this.nameLen[id]!) & (this.index.length - 1);
    for (;;) {
      const at = this.index[slot]!;
      assert(at !== EMPTY, `node ${id} is in the index`);
      if (at === id) {
        this.index[slot] = TOMBSTONE;
        return;
      }
      slot = (slot + 1) & (this.index.length - 1);
    }
  }

  /** Rebuilds the index without tombstones, sized for at most half full. */
  private rebuildIndex(): void {
    const live = this.fileCount + this.dirCount;
    let size = 1024;
    while (size < (live + 1) * 2) size *= 2;
    this.index = new Uint32Array(size);
    this.indexFilled = 0;
    for (let id = ROOT + 1; id < this.nextId; id++) if (this.kind[id] !== FREE) this.indexNode(id);
  }

  /** Rewrites the name arena without the bytes of removed or renamed nodes. */
  private maybeCompactNames(): void {
    if (this.namesWasted < 1 << 20 || this.namesWasted * 2 < this.namesUsed) return;
    const fresh = new Uint8Array(Math.ceil(Math.max(64 * 1024, (this.namesUsed - this.namesWasted) * 1.25)));
    let used = 0;
    for (let id = ROOT + 1; id < this.nextId; id++) {
      if (this.kind[id] === FREE) continue;
      const s = this.nameStart[id]!;
      const len = this.nameLen[id]!;
      fresh.set(this.names.subarray(s, s + len), used);
      this.nameStart[id] = used;
      used += len;
    }
    this.names = fresh;
    this.namesUsed = used;
    this.namesWasted = 0;
  }

  private resize(cap: number): void {
    const g8 = (a: Uint8Array | undefined) => copy(new Uint8Array(cap), a);
    const g32 = (a: Uint32Array | undefined) => copy(new Uint32Array(cap), a);
    this.kind = g8(this.kind);
    this.repl = g8(this.repl);
    this.flags = g8(this.flags);
    this.nameLen = g8(this.nameLen);
    this.parentId = g32(this.parentId);
    this.nameStart = g32(this.nameStart);
    this.firstChild = g32(this.firstChild);
    this.nextSib = g32(this.nextSib);
    this.prevSib = g32(this.prevSib);
    this.chunk0 = g32(this.chunk0);
    this.nchunks = g32(this.nchunks);
    this.mtime = copy(new Float64Array(cap), this.mtime);
    this.cap = cap;
  }
}

function copy<T extends Uint8Array | Uint32Array | Float64Array>(to: T, from: T | undefined): T {
  if (from) to.set(from as never);
  return to;
}
