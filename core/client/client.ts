// The client library (L1-L3). `connect()` returns a client that talks to the
// master for metadata and directly to chunk servers for data. The CLI is
// built on this; programs can import it too.
import { networkInterfaces } from "node:os";
import { masterFromEnvironment, secretFromEnvironment } from "./environment";
import { ErrorCode, GfsError } from "../../net/errors";
import type { ChunkLocation, LeaseGrant, MasterRole, ReplicaRef, ReqBody, RepBody, RequestType, StatReply } from "../../net/messages";
import type { Peer } from "../../net/peer";
import { PeerPool } from "../../net/pool";
import { hostOf, orderNearest } from "../master/placement";
import { crc32c, initChecksums } from "../checksums";
import { AppendBatcher, Appender, type AppendOptions } from "./appender";
import { LocationCache } from "./locations";
import { RecordScanner, RecordSequencer, type Record } from "./records";
import { readChunks, type ReadOptions } from "./reader";
import { writeChunks } from "./writer";

export interface ClientOptions {
  /** Master address, or a list: the master first, then shadows. */
  /** Master address(es), HOST:PORT; default GFS_MASTER, else 127.0.0.1:7070. */
  master?: string | string[];
  /** The cluster secret; undefined reads GFS_SECRET_FILE or GFS_SECRET, null means none. */
  secret?: Uint8Array | null;
  /**
   * How long an operation keeps retrying what can pass (the master
   * unreachable or restarting, no chunk server registered yet, a lease
   * changing, a replica gone) before it fails. Default 60 s.
   */
  deadlineMs?: number;
  /** Told once when an operation starts waiting on such a condition (the CLI prints it). */
  onWait?: (message: string) => void;
  /** Told of something worth knowing that is not an error (the CLI prints it), once per file. */
  onWarn?: (message: string) => void;
  locationTtlMs?: number;
}

export interface PutOptions {
  replication?: number;
  parents?: boolean;
  overwrite?: boolean;
  /** Told the temporary path the bytes go to until the put completes (to remove it if the caller gives up). */
  onUpload?: (tmpPath: string) => void;
}

export class GfsClient {
  readonly pool: PeerPool;
  readonly locations: LocationCache;
  readonly masters: string[];
  readonly deadlineMs: number;
  private readonly localHosts: Set<string>;
  private readonly leaseCache = new Map<string, { grant: LeaseGrant; untilMs: number }>();
  private readonly leasePending = new Map<string, Promise<LeaseGrant>>();
  private readonly batchers = new Map<string, AppendBatcher>();
  /** Files already warned about (onWarn). */
  private readonly warned = new Set<string>();
  /** Servers slow to answer lately, until when (see the reader's hedging). */
  private readonly slow = new Map<string, number>();

  constructor(readonly opts: ClientOptions = {}) {
    this.masters = masterFromEnvironment(opts.master);
    if (this.masters.length === 0) throw new GfsError(ErrorCode.INVALID_ARGUMENT, "no master address given");
    this.deadlineMs = opts.deadlineMs ?? 60_000;
    this.pool = new PeerPool("client", `client-${process.pid}`, { secret: opts.secret === undefined ? secretFromEnvironment() : opts.secret });
    this.locations = new LocationCache(opts.locationTtlMs ?? 60_000);
    this.localHosts = new Set(["127.0.0.1", "localhost", "::1"]);
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) this.localHosts.add(a.address);
  }

  close(): void {
    this.pool.closeAll();
  }

  /** A server that kept a read waiting: asked last for a while. */
  slowServer(addr: string): void {
    this.slow.set(addr, Date.now() + SLOW_SERVER_MS);
  }

  answered(addr: string): void {
    this.slow.delete(addr);
  }

  isSlow(addr: string): boolean {
    const until = this.slow.get(addr);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.slow.delete(addr);
    return false;
  }

  /** CRC32C of data this client pushes: every replica checks it before writing (end to end). */
  async crc32c(data: Uint8Array): Promise<number> {
    await (checksumsReady ??= initChecksums());
    return crc32c(data);
  }

  // ---- master calls ----

  /**
   * Calls the master, retrying with backoff up to the deadline while it is
   * unreachable or restarting, or answers with a condition that passes (no
   * chunk server registered yet, no live replica yet). Other answers return
   * at once.
   */
  async master<T extends RequestType>(type: T, body: ReqBody<T>): Promise<RepBody<T>> {
    let retrier: Retrier | null = null; // made at the first failure: most calls need none
    let delayMs = 50;
    for (;;) {
      let err: GfsError;
      let peer: Peer | null = null;
      const addr = this.masterAddr();
      try {
        peer = this.pool.ready(addr) ?? (await this.pool.get(addr));
      } catch (e) {
        err = asGfsError(e);
        if (err.code === ErrorCode.AUTH) throw err;
        err = new GfsError(ErrorCode.UNAVAILABLE, `master ${addr} is unreachable: ${err.message}`);
        this.nextMaster(addr, true);
      }
      if (peer) {
        try {
          return await peer.call(type, body);
        } catch (e) {
          // A call cut off by a dropped connection may be retried; of the answers, only those that can pass.
          err = asGfsError(e);
          if (err.code === ErrorCode.NOT_LEADER) {
            // HA: a standby names the leader when it knows it; try that at once, else the next master.
            if (err.leader && err.leader !== addr && this.leaderHint !== err.leader) {
              this.leaderHint = err.leader;
              continue;
            }
            this.nextMaster(addr);
          } else if (err.code === ErrorCode.UNAVAILABLE && peer.closed) this.nextMaster(addr, true);
          else if (!passes(err)) throw err;
        }
      }
      retrier ??= this.retrier();
      if (!retrier.retry(err!.message, delayMs)) throw err!;
      await sleep(delayMs);
      delayMs = Math.min(delayMs * 2, 1_000);
    }
  }

  /** The master to ask: the leader a standby named, else the next one of the list that has not just failed. */
  private masterAddr(): string {
    if (this.masters.length === 1 && this.leaderHint === null) return this.masters[0]!;
    const now = Date.now();
    const up = (a: string) => (this.masterDownUntil.get(a) ?? 0) <= now;
    if (this.leaderHint && up(this.leaderHint)) return this.leaderHint;
    for (let i = 0; i < this.masters.length; i++) {
      const a = this.masters[(this.masterIndex + i) % this.masters.length]!;
      if (up(a)) {
        this.masterIndex += i;
        return a;
      }
    }
    return this.masters[this.masterIndex % this.masters.length]!;
  }

  /** `addr` did not serve: forget it as the leader and move on to the next master of the list. */
  private nextMaster(addr: string, unreachable = false): void {
    // A master that cannot be reached is skipped for a while (a standby may still name it as the leader).
    if (unreachable && this.masters.length > 1) this.masterDownUntil.set(addr, Date.now() + MASTER_DOWN_MS);
    if (this.leaderHint === addr) this.leaderHint = null;
    else if (this.masters.length > 1) this.masterIndex++;
  }

  private masterIndex = 0;
  private leaderHint: string | null = null;
  private readonly masterDownUntil = new Map<string, number>();

  /**
   * A retry loop's clock and voice. The deadline runs from the first failure,
   * not from the start: an operation that made slow progress for minutes
   * still gets the whole deadline once something goes wrong. Once it has
   * waited a second the loop says so, once (`onWait`); brief hiccups (a
   * replica dying under a write) stay silent.
   */
  retrier(): Retrier {
    let since = 0;
    let said = false;
    return {
      retry: (why: string, delayMs: number) => {
        const now = Date.now();
        if (since === 0) since = now;
        if (now + delayMs > since + this.deadlineMs) return false;
        if (!said && now - since >= WAIT_NOTICE_MS) {
          said = true;
          this.opts.onWait?.(`${why}; retrying for up to ${Math.round(this.deadlineMs / 1000)} s`);
        }
        return true;
      },
    };
  }


  /** `noTrash`: removals below the directory skip the trash (with `parents`, an existing directory is marked too). */
  mkdir(path: string, parents = false, noTrash = false): Promise<{}> {
    return this.master("mkdir", { path, parents, ...(noTrash ? { noTrash } : {}) });
  }

  create(path: string, opts: { replication?: number; parents?: boolean; policyOf?: string } = {}): Promise<{}> {
    return this.master("create", { path, replication: opts.replication, parents: opts.parents ?? false, ...(opts.policyOf ? { policyOf: opts.policyOf } : {}) });
  }

  /** The replication target of a file, or of a directory (new files below it, and every file below it now). */
  setrep(path: string, replication: number): Promise<{ files: number }> {
    return this.master("setrep", { path, replication });
  }

  /** Entries of a directory, or the one entry of a file. */
  ls(path: string): Promise<RepBody<"ls">> {
    return this.master("ls", { path });
  }

  stat(path: string): Promise<StatReply> {
    return this.master("stat", { path });
  }

  async mv(src: string, dst: string, overwrite = false): Promise<void> {
    await this.master("mv", { src, dst, overwrite });
    this.locations.invalidate(src);
    this.locations.invalidate(dst);
  }

  /** Moves `path` to the trash (where it went is returned), or erases it if it is in the trash already. */
  async rm(path: string, recursive = false): Promise<{ trashedAs?: string }> {
    const r = await this.master("rm", { path, recursive });
    this.locations.invalidate(path);
    return r;
  }

  /** Brings back the newest copy of `path` from the trash; returns where it was. */
  async undelete(path: string): Promise<{ from: string }> {
    const r = await this.master("undelete", { path });
    this.locations.invalidate(path);
    return r;
  }

  cluster(): Promise<RepBody<"cluster">> {
    return this.master("cluster", {});
  }

  /** What each master of the list says of itself (role, epoch, lag), asked directly; unreachable ones say so. */
  async masterRoles(): Promise<(MasterRole | { address: string; role: "unreachable"; error: string })[]> {
    return Promise.all(
      this.masters.map(async (address) => {
        try {
          const peer = await this.pool.get(address);
          const rep = await peer.call("cluster", {}, MASTER_ROLE_MS);
          return rep.master ? { ...rep.master, address } : { address, role: "single" as const, epoch: 0, lagMs: 0 };
        } catch (err) {
          return { address, role: "unreachable" as const, error: (err as Error).message };
        }
      }),
    );
  }

  /** Rebalancing: start (or only plan, or only report) moving replicas until disk use is within `thresholdPct` points of the average. */
  rebalance(thresholdPct: number, opts: { dryRun?: boolean; status?: boolean } = {}): Promise<RepBody<"rebalance">> {
    return this.master("rebalance", { thresholdPct, ...opts });
  }

  /** Starts (or with `cancel` ends) draining a chunk server; says how many chunks still need it. */
  drain(server: string, cancel = false): Promise<RepBody<"drain">> {
    return this.master("drain", { server, ...(cancel ? { cancel } : {}) });
  }

  /** The integrity audit of everything below `path` (`gfs fsck`). */
  fsck(path = "/"): Promise<RepBody<"fsck">> {
    return this.master("fsck", { path });
  }

  // ---- data ----

  /** Streams a file's bytes (L2): bounded memory whatever the file size. */
  read(path: string, opts: ReadOptions = {}): AsyncGenerator<Uint8Array> {
    return readChunks(this, path, opts);
  }

  /**
   * A record appender for `path` (D3): await `append` for each record's
   * offset, or stream with `write` and `flush`; many appends may be in flight.
   * The file must exist (see `ensureFile`).
   */
  appender(path: string, opts: AppendOptions = {}): Appender {
    let batcher = this.batchers.get(path);
    if (!batcher) {
      batcher = new AppendBatcher(this, path);
      this.batchers.set(path, batcher);
    }
    return new Appender(batcher, path, opts);
  }

  /** Creates an empty file (and its parents) unless it exists. */
  async ensureFile(path: string): Promise<void> {
    try {
      await this.create(path, { parents: true });
    } catch (err) {
      if (!(err instanceof GfsError) || err.code !== ErrorCode.EXISTS) throw err;
    }
  }

  /**
   * The valid records of a file written by appenders (D4): padding, torn
   * fragments and retried duplicates skipped; each record once, each writer's
   * records in its own order, otherwise in file order.
   */
  async *readRecords(path: string, opts: ReadOptions = {}): AsyncGenerator<Record> {
    const { chunkSize } = await this.locate(path, 0);
    const scanner = new RecordScanner(chunkSize / 4);
    const sequencer = new RecordSequencer();
    for await (const bytes of this.read(path, opts)) {
      for (const r of scanner.push(bytes)) yield* sequencer.accept(r);
    }
    for (const r of scanner.end()) yield* sequencer.accept(r);
    yield* sequencer.finish();
  }

  /**
   * Writes a whole file from a stream. The data goes to a temporary file in
   * the hidden directory /.put first and is renamed into place only when
   * every byte is stored, so a failed put leaves no partial file behind and a
   * snapshot of the target directory never holds a half-written one.
   */
  async put(path: string, source: AsyncIterable<Uint8Array>, opts: PutOptions = {}): Promise<{ bytes: number }> {
    const slash = path.lastIndexOf("/");
    const dir = path.slice(0, slash) || "/";
    const tmp = `${PUT_DIR}/${path.slice(slash + 1).slice(0, 200)}.${Math.random().toString(36).slice(2, 10)}`;
    const existing = await this.stat(path).catch((e) => {
      if (e instanceof GfsError && e.code === ErrorCode.NOT_FOUND) return null;
      throw e;
    });
    if (existing?.type === "dir") throw new GfsError(ErrorCode.EXISTS, `${path} is a directory; a put replaces only a file (name the file inside it: ${path === "/" ? "" : path}/NAME)`);
    if (existing && !opts.overwrite) throw new GfsError(ErrorCode.EXISTS, `${path} already exists (put with overwrite to replace it)`);
    if (opts.parents && dir !== "/") await this.mkdir(dir, true);
    else if (dir !== "/") {
      const parent = await this.stat(dir);
      if (parent.type !== "dir") throw new GfsError(ErrorCode.NOT_DIR, `${dir} is not a directory`);
    }
    await this.create(tmp, { replication: opts.replication, parents: true, policyOf: path });
    opts.onUpload?.(tmp);
    try {
      const bytes = await writeChunks(this, tmp, source);
      await this.master("complete", { path: tmp, size: bytes });
      await this.mv(tmp, path, opts.overwrite ?? false);
      return { bytes };
    } catch (err) {
      await this.master("rm", { path: tmp, recursive: false }).catch(() => {});
      throw err;
    } finally {
      for (const key of this.leaseCache.keys()) if (key.startsWith(tmp + "#")) this.leaseCache.delete(key);
    }
  }

  // ---- helpers for reader and writer ----

  /** Location of chunk `index`, from the cache or the master (with prefetch). */
  async locate(path: string, index: number, refresh = false): Promise<{ loc: ChunkLocation | undefined; chunkCount: number; chunkSize: number }> {
    const now = Date.now();
    const shape = this.locations.shape(path, now);
    if (!refresh && shape) {
      const hit = this.locations.get(path, index, now);
      if (hit || index >= shape.chunkCount) return { loc: hit, chunkCount: shape.chunkCount, chunkSize: shape.chunkSize };
    }
    const rep = await this.master("locate", { path, index, count: 1 });
    this.locations.put(path, { chunkSize: rep.chunkSize, size: rep.size, chunkCount: rep.chunkCount }, rep.chunks, Date.now());
    return { loc: rep.chunks.find((c) => c.index === index), chunkCount: rep.chunkCount, chunkSize: rep.chunkSize };
  }

  /** A lease for writing chunk `index` (creating it if it is the next one). */
  lease(path: string, index: number, renew: boolean): Promise<LeaseGrant> {
    const key = `${path}#${index}`;
    const cached = this.leaseCache.get(key);
    if (!renew && cached && cached.untilMs > Date.now()) return Promise.resolve(cached.grant);
    const pending = this.leasePending.get(key);
    if (pending) return pending;
    const p = this.master("lease", { path, index, renew }).then((grant) => {
      this.leaseCache.set(key, { grant, untilMs: Date.now() + grant.leaseMs / 2 });
      const replicas = 1 + grant.secondaries.length;
      if (grant.createdShort !== undefined && !this.warned.has(path)) {
        this.warned.add(path);
        const what = path.startsWith(`${PUT_DIR}/`) ? "the file being put" : path;
        this.opts.onWarn?.(`${what} asks for ${grant.createdShort} replicas; ${replicas} chunk server${replicas === 1 ? " holds" : "s hold"} its chunks for now (copies are added when more servers can take them)`);
      }
      return grant;
    });
    this.leasePending.set(key, p);
    p.finally(() => this.leasePending.delete(key)).catch(() => {});
    return p;
  }

  /** Replicas nearest first: this host, then the rest in the master's order. */
  nearest<T extends ReplicaRef>(replicas: readonly T[]): T[] {
    const local = replicas.filter((r) => this.localHosts.has(hostOf(r.addr)));
    const localRack = local[0]?.rack ?? null;
    return orderNearest(replicas, local.length ? hostOf(local[0]!.addr) : "", localRack);
  }
}

/** Where `put` keeps files until they are complete. */
export const PUT_DIR = "/.put";

/** A client of the cluster named by `opts`, or by GFS_MASTER and the secret variables. */
export function connect(opts: ClientOptions = {}): GfsClient {
  return new GfsClient(opts);
}

let checksumsReady: Promise<void> | null = null;

/** How long a server slow to answer a read is asked last. */
const SLOW_SERVER_MS = 10_000;

/** How long `masterRoles` waits for each master. */
const MASTER_ROLE_MS = 3_000;

/** With several masters, one that could not be reached is skipped this long. */
const MASTER_DOWN_MS = 3_000;

/** A retry loop waiting this long says so (once). */
const WAIT_NOTICE_MS = 1_000;

export interface Retrier {
  /** Whether to try again after `delayMs` (false once the deadline has passed). */
  retry(why: string, delayMs: number): boolean;
}

/** Answers from the master that say "not yet" rather than "no": worth retrying until the deadline. */
function passes(err: GfsError): boolean {
  return err.code === ErrorCode.NO_SERVERS || err.code === ErrorCode.NO_REPLICA;
}

export function asGfsError(err: unknown): GfsError {
  return err instanceof GfsError ? err : new GfsError(ErrorCode.INTERNAL, (err as Error)?.message ?? String(err));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
