// The master's metadata (M1, M3): the namespace, the file -> chunk map and
// the chunk table. Changed only by `apply(op)`, which both live requests and
// log replay call, so a replayed log rebuilds exactly the state that was
// acknowledged. Chunk locations are not here: they are learned (M4).
// Nodes are numeric ids into the compact namespace (namespace.ts).
import { ErrorCode, GfsError, assert } from "../../net/errors";
import type { Handle } from "../../net/messages";
import { ChunkTable } from "./chunk-table";
import { Namespace, ROOT } from "./namespace";
import { splitPath } from "./paths";

export { ROOT } from "./namespace";

/**
 * One logged metadata change. Field names are short: the log holds millions.
 * `q` is its sequence number, given by the log: consecutive from 1.
 */
export type Op = { q?: number } & (
  | { o: "mkdir"; p: string; t: number }
  | { o: "create"; p: string; r: number; t: number }
  | { o: "handles"; n: Handle }
  | { o: "chunk"; p: string; h: Handle; v: number }
  | { o: "ver"; h: Handle; v: number }
  /** Replicas of chunk `h` may be sent versions up to `c`, logged before the first is (versions.ts). */
  | { o: "vmax"; h: Handle; c: number }
  | { o: "size"; p: string; s: number; t: number }
  | { o: "mv"; s: string; d: string; t: number }
  | { o: "rm"; p: string; t: number }
  /** Snapshot (M15): `d` becomes a copy of `s` sharing its chunks. */
  | { o: "snap"; s: string; d: string; t: number }
  /** Copy-on-write: chunk `i` of file `p` is now `h`, a copy of the shared chunk at version `v`. */
  | { o: "cow"; p: string; i: number; h: Handle; v: number }
  /** setrep (M14): file `p`'s target, or directory `p`'s for new files below it and for every file below it now. */
  | { o: "rep"; p: string; r: number }
  /** Removals below directory `p` skip the trash (`v`), or no longer do. */
  | { o: "notrash"; p: string; v: boolean });

export interface ClusterParams {
  chunkSizeBytes: number;
  replication: number;
}

export class MasterState {
  readonly ns = new Namespace();
  readonly chunks = new ChunkTable();
  /**
   * Handles below this were reserved in the log (some perhaps never used).
   * It only grows, and the allocator restarts from it, so no handle is reused.
   */
  handleLimit = 1;
  /** Sequence number of the last logged change applied (replay checks each is the next). */
  lastOp = 0;

  constructor(readonly params: ClusterParams) {}

  get fileCount(): number {
    return this.ns.fileCount;
  }

  get dirCount(): number {
    return this.ns.dirCount;
  }

  // ---- lookups ----

  /** The node at `path`, or 0. */
  lookup(path: string): number {
    let id = ROOT;
    for (const name of splitPath(path)) {
      if (!this.ns.isDir(id)) return 0;
      id = this.ns.child(id, name);
      if (id === 0) return 0;
    }
    return id;
  }

  /** The file at `path`; NOT_FOUND or IS_DIR otherwise. */
  getFile(path: string): number {
    const id = this.lookup(path);
    if (!id) throw new GfsError(ErrorCode.NOT_FOUND, `${path}: no such file`);
    if (!this.ns.isFile(id)) throw new GfsError(ErrorCode.IS_DIR, `${path} is a directory`);
    return id;
  }

  /** Parent directory of `path` and the last name. */
  parentOf(path: string): { parent: number; name: string } {
    const parts = splitPath(path);
    if (parts.length === 0) throw new GfsError(ErrorCode.INVALID_PATH, "the root has no parent");
    let id = ROOT;
    let at = "";
    for (const name of parts.slice(0, -1)) {
      at += "/" + name;
      if (!this.ns.isDir(id)) throw new GfsError(ErrorCode.NOT_DIR, `${at.slice(0, at.lastIndexOf("/")) || "/"} is not a directory`);
      const child = this.ns.child(id, name);
      if (!child) throw new GfsError(ErrorCode.NOT_FOUND, `${at}: no such directory`);
      id = child;
    }
    if (!this.ns.isDir(id)) throw new GfsError(ErrorCode.NOT_DIR, `${at || "/"} is not a directory`);
    return { parent: id, name: parts[parts.length - 1]! };
  }

  fileSize(id: number): number {
    let n = 0;
    const count = this.ns.chunkCount(id);
    for (let i = 0; i < count; i++) n += this.chunks.sizeOf(this.ns.chunkAt(id, i));
    return n;
  }

  // ---- the one mutator ----

  /** Applies a validated op. Returns the handles no file refers to any more. */
  apply(op: Op): Handle[] {
    switch (op.o) {
      case "mkdir": {
        const { parent, name } = this.parentOf(op.p);
        if (this.ns.child(parent, name)) throw new GfsError(ErrorCode.EXISTS, `${op.p} already exists`);
        this.ns.addDir(parent, name, op.t);
        this.ns.setMtime(parent, op.t);
        return [];
      }
      case "create": {
        const { parent, name } = this.parentOf(op.p);
        if (this.ns.child(parent, name)) throw new GfsError(ErrorCode.EXISTS, `${op.p} already exists`);
        this.ns.addFile(parent, name, op.r, op.t);
        this.ns.setMtime(parent, op.t);
        return [];
      }
      case "handles": {
        assert(op.n >= this.handleLimit, `handle reservations only grow (${this.handleLimit} -> ${op.n})`);
        this.handleLimit = op.n;
        return [];
      }
      case "chunk": {
        const f = this.getFile(op.p);
        assert(!this.chunks.has(op.h), `chunk handle ${op.h} is new`);
        assert(op.h > 0 && op.h < this.handleLimit, `chunk handle ${op.h} was reserved (limit ${this.handleLimit})`);
        this.chunks.add(op.h, op.v);
        this.ns.appendChunk(f, op.h);
        return [];
      }
      case "ver": {
        if (!this.chunks.has(op.h)) return []; // the chunk was deleted after the version change was decided
        this.chunks.setVersion(op.h, op.v);
        return [];
      }
      case "vmax": {
        if (!this.chunks.has(op.h)) return [];
        this.chunks.raiseCeiling(op.h, op.c);
        return [];
      }
      case "size": {
        const f = this.getFile(op.p);
        const cs = this.params.chunkSizeBytes;
        const count = this.ns.chunkCount(f);
        assert(op.s >= 0 && op.s <= count * cs, `size ${op.s} fits the file's ${count} chunks`);
        for (let i = 0; i < count; i++) this.chunks.setSize(this.ns.chunkAt(f, i), Math.max(0, Math.min(cs, op.s - i * cs)));
        this.ns.setMtime(f, op.t);
        return [];
      }
      case "mv": {
        const src = this.parentOf(op.s);
        const node = this.ns.child(src.parent, src.name);
        if (!node) throw new GfsError(ErrorCode.NOT_FOUND, `${op.s}: no such file or directory`);
        const dst = this.parentOf(op.d);
        let freed: Handle[] = [];
        const existing = this.ns.child(dst.parent, dst.name);
        if (existing === node) return [];
        if (existing) freed = this.removeNode(existing);
        this.ns.move(node, dst.parent, dst.name);
        this.ns.setMtime(src.parent, op.t);
        this.ns.setMtime(dst.parent, op.t);
        return freed;
      }
      case "snap": {
        const src = this.lookup(op.s);
        if (!src) throw new GfsError(ErrorCode.NOT_FOUND, `${op.s}: no such file or directory`);
        const { parent, name } = this.parentOf(op.d);
        if (this.ns.child(parent, name)) throw new GfsError(ErrorCode.EXISTS, `${op.d} already exists`);
        this.ns.copyTree(src, parent, name, op.t, (h) => this.chunks.addRef(h));
        this.ns.setMtime(parent, op.t);
        return [];
      }
      case "cow": {
        const f = this.getFile(op.p);
        assert(op.i < this.ns.chunkCount(f), `${op.p} has chunk ${op.i}`);
        assert(op.h > 0 && op.h < this.handleLimit, `chunk handle ${op.h} was reserved`);
        const old = this.ns.chunkAt(f, op.i);
        const size = this.chunks.sizeOf(old);
        this.chunks.add(op.h, op.v, size);
        this.ns.replaceChunk(f, op.i, op.h);
        return this.chunks.release(old) ? [old] : [];
      }
      case "rep": {
        const id = this.lookup(op.p);
        if (!id) throw new GfsError(ErrorCode.NOT_FOUND, `${op.p}: no such file or directory`);
        this.ns.setReplication(id, op.r);
        if (this.ns.isDir(id)) for (const [, f] of this.ns.walk(id)) if (this.ns.isFile(f)) this.ns.setReplication(f, op.r);
        return [];
      }
      case "notrash": {
        const id = this.lookup(op.p);
        if (!id || !this.ns.isDir(id)) throw new GfsError(ErrorCode.NOT_DIR, `${op.p} is not a directory`);
        this.ns.setNoTrash(id, op.v);
        return [];
      }
      case "rm": {
        const { parent, name } = this.parentOf(op.p);
        const node = this.ns.child(parent, name);
        if (!node) throw new GfsError(ErrorCode.NOT_FOUND, `${op.p}: no such file or directory`);
        this.ns.setMtime(parent, op.t);
        return this.removeNode(node);
      }
    }
  }

  private removeNode(id: number): Handle[] {
    const freed: Handle[] = [];
    this.ns.remove(id, (file) => {
      for (const h of this.ns.chunks(file)) if (this.chunks.release(h)) freed.push(h);
    });
    return freed;
  }

  /** Every node in depth-first order, parents before children (for checkpoints). */
  walk(): Generator<[string, number]> {
    return this.ns.walk();
  }
}
