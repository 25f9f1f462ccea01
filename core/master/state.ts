// The master's metadata (M1, M3): the namespace tree, the file -> chunk map and
// the chunk table. Changed only by `apply(op)`, which both live requests and
// log replay call, so a replayed log rebuilds exactly the state that was
// acknowledged. Chunk locations are not here: they are learned (M4).
import { ErrorCode, GfsError, assert } from "../../net/errors";
import type { Handle } from "../../net/messages";
import { joinPath, splitPath } from "./paths";

export interface FileNode {
  kind: "file";
  chunks: Handle[];
  replication: number;
  mtimeMs: number;
}

export interface DirNode {
  kind: "dir";
  children: Map<string, Node>;
  mtimeMs: number;
}

export type Node = FileNode | DirNode;

export interface ChunkMeta {
  version: number;
  sizeBytes: number;
  /** Files referring to this chunk (snapshots share chunks). */
  refs: number;
}

/** One logged metadata change. Field names are short: the log holds millions. */
export type Op =
  | { o: "mkdir"; p: string; t: number }
  | { o: "create"; p: string; r: number; t: number }
  | { o: "handles"; n: Handle }
  | { o: "chunk"; p: string; h: Handle; v: number }
  | { o: "ver"; h: Handle; v: number }
  | { o: "size"; p: string; s: number; t: number }
  | { o: "mv"; s: string; d: string; t: number }
  | { o: "rm"; p: string; t: number };

export interface ClusterParams {
  chunkSizeBytes: number;
  replication: number;
}

export class MasterState {
  readonly root: DirNode = { kind: "dir", children: new Map(), mtimeMs: 0 };
  readonly chunks = new Map<Handle, ChunkMeta>();
  /**
   * Handles below this were reserved in the log (some perhaps never used).
   * It only grows, and the allocator restarts from it, so no handle is reused.
   */
  handleLimit = 1;
  fileCount = 0;
  dirCount = 1;

  constructor(readonly params: ClusterParams) {}

  // ---- lookups ----

  lookup(path: string): Node | undefined {
    let node: Node = this.root;
    for (const name of splitPath(path)) {
      if (node.kind !== "dir") return undefined;
      const child: Node | undefined = node.children.get(name);
      if (!child) return undefined;
      node = child;
    }
    return node;
  }

  getFile(path: string): FileNode {
    const n = this.lookup(path);
    if (!n) throw new GfsError(ErrorCode.NOT_FOUND, `${path}: no such file`);
    if (n.kind !== "file") throw new GfsError(ErrorCode.IS_DIR, `${path} is a directory`);
    return n;
  }

  /** Parent directory of `path` and the last name. */
  parentOf(path: string): { parent: DirNode; name: string } {
    const parts = splitPath(path);
    if (parts.length === 0) throw new GfsError(ErrorCode.INVALID_PATH, "the root has no parent");
    let node: Node = this.root;
    let at = "";
    for (const name of parts.slice(0, -1)) {
      at += "/" + name;
      if (node.kind !== "dir") throw new GfsError(ErrorCode.NOT_DIR, `${at.slice(0, at.lastIndexOf("/")) || "/"} is not a directory`);
      const child: Node | undefined = node.children.get(name);
      if (!child) throw new GfsError(ErrorCode.NOT_FOUND, `${at}: no such directory`);
      node = child;
    }
    if (node.kind !== "dir") throw new GfsError(ErrorCode.NOT_DIR, `${at || "/"} is not a directory`);
    return { parent: node, name: parts[parts.length - 1]! };
  }

  fileSize(f: FileNode): number {
    let n = 0;
    for (const h of f.chunks) n += this.chunks.get(h)?.sizeBytes ?? 0;
    return n;
  }

  // ---- the one mutator ----

  /** Applies a validated op. Returns the handles no file refers to any more. */
  apply(op: Op): Handle[] {
    switch (op.o) {
      case "mkdir": {
        const { parent, name } = this.parentOf(op.p);
        if (parent.children.has(name)) throw new GfsError(ErrorCode.EXISTS, `${op.p} already exists`);
        parent.children.set(name, { kind: "dir", children: new Map(), mtimeMs: op.t });
        parent.mtimeMs = op.t;
        this.dirCount++;
        return [];
      }
      case "create": {
        const { parent, name } = this.parentOf(op.p);
        if (parent.children.has(name)) throw new GfsError(ErrorCode.EXISTS, `${op.p} already exists`);
        parent.children.set(name, { kind: "file", chunks: [], replication: op.r, mtimeMs: op.t });
        parent.mtimeMs = op.t;
        this.fileCount++;
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
        this.chunks.set(op.h, { version: op.v, sizeBytes: 0, refs: 1 });
        f.chunks.push(op.h);
        return [];
      }
      case "ver": {
        const c = this.chunks.get(op.h);
        if (!c) return []; // the chunk was deleted after the version change was decided
        assert(op.v >= c.version, `chunk ${op.h} version never goes back (${c.version} -> ${op.v})`);
        c.version = op.v;
        return [];
      }
      case "size": {
        const f = this.getFile(op.p);
        const cs = this.params.chunkSizeBytes;
        assert(op.s >= 0 && op.s <= f.chunks.length * cs, `size ${op.s} fits the file's ${f.chunks.length} chunks`);
        f.chunks.forEach((h, i) => {
          const c = this.chunks.get(h);
          if (c) c.sizeBytes = Math.max(0, Math.min(cs, op.s - i * cs));
        });
        f.mtimeMs = op.t;
        return [];
      }
      case "mv": {
        const src = this.parentOf(op.s);
        const node = src.parent.children.get(src.name);
        if (!node) throw new GfsError(ErrorCode.NOT_FOUND, `${op.s}: no such file or directory`);
        const dst = this.parentOf(op.d);
        let freed: Handle[] = [];
        const existing = dst.parent.children.get(dst.name);
        if (existing && existing !== node) freed = this.removeNode(dst.parent, dst.name);
        src.parent.children.delete(src.name);
        dst.parent.children.set(dst.name, node);
        src.parent.mtimeMs = op.t;
        dst.parent.mtimeMs = op.t;
        return freed;
      }
      case "rm": {
        const { parent, name } = this.parentOf(op.p);
        if (!parent.children.has(name)) throw new GfsError(ErrorCode.NOT_FOUND, `${op.p}: no such file or directory`);
        parent.mtimeMs = op.t;
        return this.removeNode(parent, name);
      }
    }
  }

  private removeNode(parent: DirNode, name: string): Handle[] {
    const node = parent.children.get(name)!;
    parent.children.delete(name);
    const freed: Handle[] = [];
    const visit = (n: Node) => {
      if (n.kind === "file") {
        this.fileCount--;
        for (const h of n.chunks) {
          const c = this.chunks.get(h);
          if (!c) continue;
          c.refs--;
          assert(c.refs >= 0, `chunk ${h} reference count stays non-negative`);
          if (c.refs === 0) {
            this.chunks.delete(h);
            freed.push(h);
          }
        }
      } else {
        this.dirCount--;
        for (const child of n.children.values()) visit(child);
      }
    };
    visit(node);
    return freed;
  }

  /** Every node in depth-first order, parents before children (for checkpoints). */
  *walk(dir: DirNode = this.root, path = "/"): Generator<[string, Node]> {
    for (const [name, child] of dir.children) {
      const p = joinPath(path, name);
      yield [p, child];
      if (child.kind === "dir") yield* this.walk(child, p);
    }
  }
}
