// The master's namespace requests (M1, M2, M13, M14, M15, O1): directories,
// files and their chunk lists, the trash and abandoned uploads, setrep,
// snapshots and fsck. Every change goes through the master's log (commit);
// decisions live in state.ts, trash.ts and fsck.ts.
import { ErrorCode, GfsError } from "../../net/errors";
import type { ChunkLocation, DirEntry, FsckReport, Handle, ReqBody, RepBody, StatReply } from "../../net/messages";
import { joinPath, normalizePath, splitPath } from "./paths";
import { audit, type FsckFile } from "./fsck";
import { ROOT } from "./namespace";
import { TRASH_DIR, UPLOAD_DIR, abandonedUploads, expiredEntries, newestFirst, reclaimedAtOnce, trashPathFor, within } from "./trash";
import type { MasterContext } from "./context";

/** The highest replication target a file or directory may have. */
const MAX_REPLICATION = 16;
/** Trash entries or uploads erased per garbage-collection sweep, at most. */
const SWEEP_LIMIT = 256;
/** Chunk locations sent beyond those asked for (a reader usually goes on). */
const LOCATE_PREFETCH = 8;

export class NamespaceRequests {
  constructor(private readonly m: MasterContext) {}

  async mkdir(b: ReqBody<"mkdir">): Promise<{}> {
    const parts = splitPath(b.path);
    const t = Date.now();
    const full = "/" + parts.join("/");
    if (!b.parents) await this.m.commit({ o: "mkdir", p: full, t });
    else {
      let path = "";
      for (const name of parts) {
        path += "/" + name;
        const n = this.m.state.lookup(path);
        if (n && this.m.state.ns.isDir(n)) continue;
        if (n) throw new GfsError(ErrorCode.NOT_DIR, `${path} is a file`);
        await this.m.commit({ o: "mkdir", p: path, t });
      }
    }
    if (b.noTrash) await this.m.commit({ o: "notrash", p: full, v: true });
    return {};
  }

  /** Whether a removal of `path` skips the trash: it or a directory above it was made with --no-trash. */
  private inNoTrashDir(path: string): boolean {
    const ns = this.m.state.ns;
    for (let id = this.m.state.lookup(path); id; id = id === ROOT ? 0 : ns.parentOf(id)) if (ns.isDir(id) && ns.noTrash(id)) return true;
    return false;
  }

  async create(b: ReqBody<"create">): Promise<{}> {
    const path = normalizePath(b.path);
    const r = b.replication ?? this.inheritedReplication(normalizePath(b.policyOf ?? path));
    if (!Number.isInteger(r) || r < 1 || r > MAX_REPLICATION) throw new GfsError(ErrorCode.INVALID_ARGUMENT, `replication must be 1..${MAX_REPLICATION}, got ${r}`);
    if (b.parents) {
      const parent = path.slice(0, path.lastIndexOf("/")) || "/";
      if (parent !== "/") await this.mkdir({ path: parent, parents: true });
    }
    await this.m.commit({ o: "create", p: path, r, t: Date.now() });
    this.touchUpload(path);
    return {};
  }

  /** The replication a new file at `path` gets: its nearest ancestor's setrep, else the cluster's. */
  private inheritedReplication(path: string): number {
    let dir = path.slice(0, path.lastIndexOf("/")) || "/";
    for (;;) {
      const id = this.m.state.lookup(dir);
      const r = id && this.m.state.ns.isDir(id) ? this.m.state.ns.replicationOf(id) : 0;
      if (r > 0) return r;
      if (dir === "/") return this.m.state.params.replication;
      dir = dir.slice(0, dir.lastIndexOf("/")) || "/";
    }
  }

  /** setrep (M14): a file's target, or a directory's for everything below it; re-replication or surplus removal follows. */
  async setrep(b: ReqBody<"setrep">): Promise<RepBody<"setrep">> {
    const path = normalizePath(b.path);
    if (!Number.isInteger(b.replication) || b.replication < 1 || b.replication > MAX_REPLICATION) {
      throw new GfsError(ErrorCode.INVALID_ARGUMENT, `replication must be 1..${MAX_REPLICATION}, got ${b.replication}`);
    }
    const id = this.m.state.lookup(path);
    if (!id) throw new GfsError(ErrorCode.NOT_FOUND, `${path}: no such file or directory`);
    let files = 0;
    if (this.m.state.ns.isFile(id)) files = 1;
    else for (const [, n] of this.m.state.ns.walk(id)) if (this.m.state.ns.isFile(n)) files++;
    await this.m.commit({ o: "rep", p: path, r: b.replication });
    this.m.repairs.changed();
    this.m.log.info(`setrep ${b.replication} ${path}: ${files} files`);
    return { files };
  }

  private entry(name: string, id: number): DirEntry {
    const ns = this.m.state.ns;
    if (ns.isDir(id)) return { name, type: "dir", size: 0, mtimeMs: ns.mtimeOf(id), replication: ns.replicationOf(id), chunks: 0 };
    return { name, type: "file", size: this.m.state.fileSize(id), mtimeMs: ns.mtimeOf(id), replication: ns.replicationOf(id), chunks: ns.chunkCount(id) };
  }

  ls(b: ReqBody<"ls">): RepBody<"ls"> {
    const path = normalizePath(b.path);
    const n = this.m.state.lookup(path);
    if (!n) throw new GfsError(ErrorCode.NOT_FOUND, `${path}: no such file or directory`);
    const ns = this.m.state.ns;
    if (ns.isFile(n)) return { entries: [this.entry(path.slice(path.lastIndexOf("/") + 1), n)], isFile: true };
    const entries = [...ns.children(n)].map((child) => this.entry(ns.nameOf(child), child));
    entries.sort((a, c) => (a.name < c.name ? -1 : a.name > c.name ? 1 : 0));
    return { entries, isFile: false };
  }

  private chunkLocation(file: number, index: number): ChunkLocation {
    const handle = this.m.state.ns.chunkAt(file, index);
    const chunks = this.m.state.chunks;
    const replicas = this.m.registry.replicaRefs(handle);
    if (replicas.length > 0 && replicas.length < this.m.state.ns.replicationOf(file)) this.m.repairs.want(handle);
    return { index, handle, version: chunks.versionOf(handle), size: chunks.sizeOf(handle), replicas };
  }

  stat(b: ReqBody<"stat">): StatReply {
    const path = normalizePath(b.path);
    const n = this.m.state.lookup(path);
    if (!n) throw new GfsError(ErrorCode.NOT_FOUND, `${path}: no such file or directory`);
    const name = path === "/" ? "/" : path.slice(path.lastIndexOf("/") + 1);
    const chunkList: ChunkLocation[] = [];
    const now = Date.now();
    if (this.m.state.ns.isFile(n)) {
      for (let i = 0; i < this.m.state.ns.chunkCount(n); i++) {
        const loc = this.chunkLocation(n, i);
        const lease = this.m.leases.current(loc.handle, now);
        if (lease) loc.primary = this.m.registry.ref(lease.primary)?.addr;
        chunkList.push(loc);
      }
    }
    return { ...this.entry(name, n), path, chunkSize: this.m.state.params.chunkSizeBytes, chunkList };
  }

  async mv(b: ReqBody<"mv">): Promise<{}> {
    const src = normalizePath(b.src);
    let dst = normalizePath(b.dst);
    if (src === "/") throw new GfsError(ErrorCode.INVALID_ARGUMENT, "cannot move the root");
    const node = this.m.state.lookup(src);
    if (!node) throw new GfsError(ErrorCode.NOT_FOUND, `${src}: no such file or directory`);
    const target = this.m.state.lookup(dst);
    if (target && this.m.state.ns.isDir(target)) {
      dst = joinPath(dst, src.slice(src.lastIndexOf("/") + 1));
    }
    if (dst === src) return {};
    const ns = this.m.state.ns;
    if (ns.isDir(node) && (dst + "/").startsWith(src + "/")) throw new GfsError(ErrorCode.INVALID_ARGUMENT, `cannot move ${src} into itself`);
    const existing = this.m.state.lookup(dst);
    if (existing) {
      if (ns.isDir(existing)) throw new GfsError(ErrorCode.EXISTS, `${dst} is an existing directory`);
      if (ns.isDir(node)) throw new GfsError(ErrorCode.EXISTS, `${dst} exists`);
      if (!b.overwrite) throw new GfsError(ErrorCode.EXISTS, `${dst} already exists`);
    }
    this.m.state.parentOf(dst); // parent must exist and be a directory
    await this.m.commit({ o: "mv", s: src, d: dst, t: Date.now() });
    return {};
  }

  /** Moves to the trash (M13), or erases at once what is in the trash or an upload, or everything without a trash TTL. */
  async rm(b: ReqBody<"rm">): Promise<RepBody<"rm">> {
    const path = normalizePath(b.path);
    if (path === "/") throw new GfsError(ErrorCode.INVALID_ARGUMENT, "cannot remove the root");
    const n = this.m.state.lookup(path);
    if (!n) throw new GfsError(ErrorCode.NOT_FOUND, `${path}: no such file or directory`);
    if (this.m.state.ns.isDir(n) && this.m.state.ns.hasChildren(n) && !b.recursive) throw new GfsError(ErrorCode.NOT_EMPTY, `${path} is a non-empty directory (use -r)`);
    const t = Date.now();
    if (reclaimedAtOnce(path, this.trashTtlMs) || path === UPLOAD_DIR || this.inNoTrashDir(path)) {
      await this.m.commit({ o: "rm", p: path, t });
      this.uploadActivity.delete(path);
      return {};
    }
    this.trashSeq = t === this.lastTrashMs ? this.trashSeq + 1 : 0;
    this.lastTrashMs = t;
    const trashed = trashPathFor(path, t, this.trashSeq);
    await this.mkdir({ path: trashed.slice(0, trashed.lastIndexOf("/")), parents: true });
    await this.m.commit({ o: "mv", s: path, d: trashed, t });
    return { trashedAs: trashed };
  }

  /** Removals in this millisecond so far (trash names). */
  private trashSeq = 0;

  private lastTrashMs = 0;

  private get trashTtlMs(): number {
    return this.m.cfg.trashTtlMs ?? 86_400_000;
  }

  /** The newest copy of `path` in the trash goes back where it was. */
  async undelete(b: ReqBody<"undelete">): Promise<RepBody<"undelete">> {
    const path = normalizePath(b.path);
    if (path === "/" || within(path, TRASH_DIR)) throw new GfsError(ErrorCode.INVALID_ARGUMENT, `${path}: give the path a file had before it was removed`);
    if (this.m.state.lookup(path)) throw new GfsError(ErrorCode.EXISTS, `${path} exists; move it away first`);
    const trash = this.m.state.lookup(TRASH_DIR);
    const ns = this.m.state.ns;
    const names = trash && ns.isDir(trash) ? [...ns.children(trash)].map((c) => ns.nameOf(c)) : [];
    for (const stamp of newestFirst(names)) {
      const from = `${TRASH_DIR}/${stamp}${path}`;
      if (!this.m.state.lookup(from)) continue;
      const parent = path.slice(0, path.lastIndexOf("/")) || "/";
      if (parent !== "/") await this.mkdir({ path: parent, parents: true });
      await this.m.commit({ o: "mv", s: from, d: path, t: Date.now() });
      this.m.log.info(`undelete ${path} from ${from}`);
      return { from };
    }
    throw new GfsError(ErrorCode.NOT_FOUND, `${path}: not in the trash`);
  }

  /**
   * Garbage collection (M13): trash entries past the TTL and uploads idle
   * past the upload timeout are erased (through the log); their chunks are
   * then deleted on the servers with the next heartbeats. At most a few
   * hundred a sweep, so a big trash does not stall the master.
   */
  async sweep(): Promise<void> {
    const now = Date.now();
    const ns = this.m.state.ns;
    const trash = this.m.state.lookup(TRASH_DIR);
    if (trash && ns.isDir(trash)) {
      const names = [...ns.children(trash)].map((c) => ns.nameOf(c));
      for (const name of expiredEntries(names, now, this.trashTtlMs, SWEEP_LIMIT)) {
        const p = `${TRASH_DIR}/${name}`;
        await this.m.withPaths([p], "write", async () => {
          if (this.m.state.lookup(p)) await this.m.commit({ o: "rm", p, t: Date.now() });
        });
        this.m.log.info(`trash: ${p} erased (older than the trash TTL)`);
      }
    }
    const uploads = this.m.state.lookup(UPLOAD_DIR);
    if (uploads && ns.isDir(uploads)) {
      const files = [...ns.children(uploads)].map((c) => `${UPLOAD_DIR}/${ns.nameOf(c)}`);
      const idle = abandonedUploads(files.map((p) => ({ path: p, lastActiveMs: this.uploadActivity.get(p) ?? this.m.startedAtMs })), now, this.m.cfg.uploadTimeoutMs ?? 3_600_000);
      for (const p of idle.slice(0, SWEEP_LIMIT)) {
        const idleMs = now - (this.uploadActivity.get(p) ?? this.m.startedAtMs);
        await this.m.withPaths([p], "write", async () => {
          if (this.m.state.lookup(p)) await this.m.commit({ o: "rm", p, t: Date.now() });
        });
        this.uploadActivity.delete(p);
        this.m.log.info(`upload ${p} reclaimed: untouched for ${Math.round(idleMs / 1000)} s (an interrupted put)`);
      }
    }
  }

  /** A put's temporary file is in use. */
  touchUpload(path: string): void {
    if (within(path, UPLOAD_DIR)) this.uploadActivity.set(path, Date.now());
  }

  /** Temporary uploads: when each last created, leased or completed (since this start). */
  private readonly uploadActivity = new Map<string, number>();

  locate(b: ReqBody<"locate">): RepBody<"locate"> {
    const path = normalizePath(b.path);
    const f = this.m.state.getFile(path);
    const count = this.m.state.ns.chunkCount(f);
    const from = Math.max(0, Math.floor(b.index));
    const to = Math.min(count, from + Math.max(1, Math.min(b.count, 1024)) + LOCATE_PREFETCH);
    const chunks: ChunkLocation[] = [];
    for (let i = from; i < to; i++) chunks.push(this.chunkLocation(f, i));
    return { chunkSize: this.m.state.params.chunkSizeBytes, size: this.m.state.fileSize(f), chunkCount: count, chunks };
  }

  async complete(b: ReqBody<"complete">): Promise<{}> {
    const path = normalizePath(b.path);
    const count = this.m.state.ns.chunkCount(this.m.state.getFile(path));
    if (!Number.isSafeInteger(b.size) || b.size < 0 || b.size > count * this.m.state.params.chunkSizeBytes) {
      throw new GfsError(ErrorCode.INVALID_ARGUMENT, `size ${b.size} does not fit ${path}'s ${count} chunks`);
    }
    await this.m.commit({ o: "size", p: path, s: b.size, t: Date.now() });
    return {};
  }

  fsck(b: ReqBody<"fsck">): RepBody<"fsck"> {
    const path = normalizePath(b.path);
    const top = this.m.state.lookup(path);
    if (!top) throw new GfsError(ErrorCode.NOT_FOUND, `${path}: no such file or directory`);
    const ns = this.m.state.ns;
    let directories = 0;
    const state = this.m.state;
    const files = function* (): Generator<FsckFile> {
      const nodes: Iterable<[string, number]> = ns.isFile(top) ? [[path, top]] : ns.walk(top, path === "/" ? "" : path);
      if (ns.isDir(top)) directories++;
      for (const [p, id] of nodes) {
        if (ns.isDir(id)) directories++;
        else yield { path: p, target: ns.replicationOf(id), sizeBytes: state.fileSize(id), chunks: ns.chunks(id) };
      }
    };
    const servers = [...this.m.registry.servers.values()];
    const report = audit(files(), 0, {
      racksOf: (h) => this.m.registry.replicaRefs(h).filter((r) => !this.m.registry.servers.get(r.id)?.draining).map((r) => r.rack),
      leaving: (h) => this.m.registry.replicaRefs(h).filter((r) => this.m.registry.servers.get(r.id)?.draining).length,
      damaged: (h) => this.m.chunkRequests.damagedOnly.has(h),
      staleReplicas: (h) => servers.reduce((n, s) => n + (s.discard.has(h) ? 1 : 0), 0),
      repairing: (h) => this.m.repairs.isCloning(h),
      racks: new Set(this.m.registry.candidates().map((c) => c.rack)).size,
    });
    report.directories = directories;
    return report;
  }

  /** The whole namespace's fsck report, at most 5 s old (the status page and /metrics read it). */
  health(): FsckReport {
    const now = Date.now();
    if (!this.fsckCache || now - this.fsckCache.atMs > 5_000) this.fsckCache = { atMs: now, report: this.fsck({ path: "/" }) };
    return this.fsckCache.report;
  }

  private fsckCache: { atMs: number; report: FsckReport } | null = null;

  /**
   * Snapshot (M15): ends the leases on the source's chunks (so the next write
   * to any of them comes to the master and is copied first), then logs and
   * duplicates the metadata; the chunks themselves are shared.
   */
  async snapshot(b: ReqBody<"snapshot">): Promise<RepBody<"snapshot">> {
    const src = normalizePath(b.src);
    const dst = normalizePath(b.dst);
    const node = this.m.state.lookup(src);
    if (!node) throw new GfsError(ErrorCode.NOT_FOUND, `${src}: no such file or directory`);
    if (this.m.state.lookup(dst)) throw new GfsError(ErrorCode.EXISTS, `${dst} already exists`);
    if ((dst + "/").startsWith(src + "/")) throw new GfsError(ErrorCode.INVALID_ARGUMENT, `cannot snapshot ${src} into itself`);
    this.m.state.parentOf(dst); // the parent must exist
    const handles: Handle[] = [];
    let files = 0;
    const collect = (id: number) => {
      if (this.m.state.ns.isFile(id)) {
        files++;
        handles.push(...this.m.state.ns.chunks(id));
      } else for (const c of this.m.state.ns.children(id)) collect(c);
    };
    collect(node);
    const now = Date.now();
    const leased = handles.filter((h) => this.m.leases.current(h, now));
    await Promise.all(leased.map((h) => this.m.locked(`chunk:${h}`, () => this.m.chunkRequests.revokeLease(h))));
    await this.m.commit({ o: "snap", s: src, d: dst, t: Date.now() });
    this.m.log.info(`snapshot of ${src} at ${dst}: ${files} files, ${handles.length} chunks shared, ${leased.length} leases revoked`);
    return { files, chunks: handles.length, revokedLeases: leased.length };
  }
}
