// The chunk server daemon: wires the chunk store, push buffer and mutation
// order to the network. Registers with the master, heartbeats, serves reads,
// takes part in push chains and applies mutations in the primary's order.
import { setTimeout as sleep } from "node:timers/promises";
import { randomUUID } from "node:crypto";
import { advertisedHost } from "../advertised-address";
import { DataDirLock } from "../data-dir-lock";
import { MetricsRegistry } from "../metrics";
import { RpcLog } from "../rpc-log";
import { existsSync, mkdirSync, readFileSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ConsolaInstance } from "consola";
import { ErrorCode, GfsError } from "../../net/errors";
import { INLINE_APPEND_BYTES, type ChunkReport, type Handle, type LeaseProof, type Leadership, type NotifyType, type ReplicaRef, type RepBody, type ReqBody, type RequestType } from "../../net/messages";
import { leaseTokenValid, tokenKey } from "../lease-tokens";
import { connect, isLoopbackHost, listen, type Listener, type Peer } from "../../net/peer";
import { PeerPool } from "../../net/pool";
import { logger } from "../log";
import { checksumImplementation, initChecksums } from "../checksums";
import { DataWaits } from "./data-waits";
import { InlineHeld } from "./inline-held";
import { averagePauseMs, copyPauseMs } from "./pacing";
import { ReadBudget } from "./read-budget";
import { transitCrc } from "../checksums";
import { MutationOrder } from "./mutations";
import { PushBuffer } from "./push-buffer";
import { ChunkStore, handleName } from "./store";

export interface ChunkServerConfig {
  dataDir: string;
  master: string;
  listenHost: string;
  listenPort: number;
  /** HOST:PORT others use to reach this server; defaults to the listen address. */
  advertise?: string;
  rack: string;
  bufferBytes: number;
  scrubIntervalMs: number;
  /** Bytes a second the scrubber reads at most (0: unpaced). */
  scrubBytesPerSec: number;
  /** Chunk bytes this server offers at most (0: its whole disk). */
  capacityBytes?: number;
  secret: Uint8Array | null;
  /** Connections idle this long are closed. */
  idleMs?: number;
}

const PUSH_MAX_AGE_MS = 60_000;
/** A push that receives nothing for this long is given up and its buffer freed. */
const PUSH_STALL_MS = 5_000;
const FORWARD_PIECE_BYTES = 512 * 1024;
/** Largest read served at once; readers ask for 1 MiB pieces. */
const MAX_READ_BYTES = 8 * 1024 * 1024;
/** Chunks listed to the master per heartbeat (they go round all of them in turn). */
const LISTED_PER_HEARTBEAT = 1024;
/** Chunk deletions per heartbeat, at most. */
const DELETES_PER_ROUND = 256;
/** Re-replication reads a chunk from its source in pieces of this size. */
const CLONE_PIECE_BYTES = 1024 * 1024;
/** Bytes of read replies one connection may have in the making. */
const READ_BUDGET_BYTES = 16 * 1024 * 1024;
/** How long a mutation waits for data whose push has not begun here. */
const DATA_ANNOUNCE_MS = 5_000;

/** A push being received here (and forwarded down its chain). */
interface ActivePush {
  upstream: Peer;
  /** `bytes` have arrived so far; `done` once all have. */
  piece(bytes: number, done: boolean): void;
  fail(err: Error): void;
}

export class ChunkServer {
  readonly log: ConsolaInstance = logger("chunkserver");
  readonly id: string;
  private store!: ChunkStore;
  private readonly order = new MutationOrder();
  private readonly buffer: PushBuffer;
  private readonly waits: DataWaits;
  private readonly inlineHeld = new InlineHeld(INLINE_HELD_BYTES);
  /** Pads in flight (record append closing a chunk), by chunk: CHUNK_FULL waits for them. */
  private readonly padding = new Map<Handle, Promise<number>>();
  private readonly pushes = new Map<string, ActivePush>();
  /**
   * Push buffers that bytes queued for the next hop may still point into:
   * not to be recycled (while a push is forwarded; for good after a push
   * ahead, which nobody acknowledges).
   */
  private readonly unrecyclable = new WeakSet<Uint8Array>();
  private listener: Listener | null = null;
  /** One connection per master (HA: the leader and its standbys); commands are taken from the leader's only. */
  private readonly links = new Map<string, MasterLink>();
  /** The highest leader epoch any master has announced: a master below it is deposed. */
  private highestEpoch = 0;
  private readonly pool: PeerPool;
  private heartbeatMs = 5_000;
  private chunkSizeBytes = 0;
  /** Lengths to report in the next heartbeat: acknowledged ends (as primary) and copies. */
  private readonly reportSizes = new Map<Handle, number>();
  /** Key that lease tokens are checked with (from the secret, or from the master when there is none). */
  private readonly secretTokenKey: Uint8Array | null;
  /** The lease token last checked for each chunk, so each lease's token is verified once. */
  private readonly tokensSeen = new Map<Handle, { version: number; token: Uint8Array }>();
  /** Chunks to delete, in order, with why (deleted a few hundred per heartbeat). */
  private readonly toDelete = new Map<Handle, { why: string; bornBy: number }>();
  private readonly readBudgets = new WeakMap<Peer, ReadBudget>();
  /** When pushed bytes last arrived here. */
  private lastPushDataMs = 0;
  private stopped = false;
  private timers: ReturnType<typeof setTimeout>[] = [];
  private registered: Promise<void>;
  private readonly lock: DataDirLock;
  /** Every request served and its reply, to DIR/rpc.log (core/rpc-log.ts). */
  private readonly rpcLog: RpcLog;
  /** What /metrics shows (core/metrics.ts). */
  readonly metrics = new MetricsRegistry("gfs_chunkserver");
  private readonly bytesRead = this.metrics.counter("gfs_chunkserver_read_bytes_total", "Bytes of chunk data sent to readers and cloning peers");
  private readonly bytesWritten = this.metrics.counter("gfs_chunkserver_written_bytes_total", "Bytes of chunk data written (mutations, padding and clones)");
  private readonly bytesPushed = this.metrics.counter("gfs_chunkserver_pushed_bytes_total", "Bytes of pushed data received");
  private readonly bytesScrubbed = this.metrics.counter("gfs_chunkserver_scrubbed_bytes_total", "Bytes of idle chunks re-verified by the scrubber");
  /** Called when the server cannot go on (its master refuses its secret). */
  onFatal: ((err: Error) => void) | null = null;
  private markRegistered!: () => void;
  addr = "";

  constructor(readonly cfg: ChunkServerConfig) {
    mkdirSync(cfg.dataDir, { recursive: true });
    this.lock = DataDirLock.take(cfg.dataDir, "chunk server");
    this.rpcLog = new RpcLog(cfg.dataDir);
    const idPath = join(cfg.dataDir, "server-id");
    if (existsSync(idPath)) this.id = readFileSync(idPath, "utf8").trim();
    else {
      this.id = randomUUID();
      writeFileSync(idPath, this.id + "\n");
    }
    this.secretTokenKey = cfg.secret ? tokenKey(cfg.secret) : null;
    this.buffer = new PushBuffer(cfg.bufferBytes, PUSH_MAX_AGE_MS);
    this.waits = new DataWaits(this.buffer, DATA_ANNOUNCE_MS, () => this.lastPushDataMs);
    const peerOpts = { secret: cfg.secret, logger: this.log, onNotify: this.onNotify.bind(this) };
    this.pool = new PeerPool("chunkserver", this.id, peerOpts);
    this.registered = new Promise((r) => (this.markRegistered = r));
  }

  async start(): Promise<void> {
    await initChecksums();
    this.listener = listen(this.cfg.listenHost, this.cfg.listenPort, {
      secret: this.cfg.secret,
      logger: this.log,
      idleMs: this.cfg.idleMs,
      onRequest: (t, b, p) => this.onRequest(t, b, p),
      onNotify: this.onNotify.bind(this),
      onClose: (peer) => this.upstreamClosed(peer),
      onServed: this.served,
      rpcLog: this.rpcLog,
    });
    this.metrics.gauge("gfs_chunkserver_chunks", "Replicas stored here", () => this.store?.count ?? 0);
    this.metrics.gauge("gfs_chunkserver_disk_used_bytes", "Disk use as the master weighs it", () => this.space().usedBytes);
    this.metrics.gauge("gfs_chunkserver_disk_capacity_bytes", "Capacity as the master weighs it", () => this.space().capacityBytes);
    this.metrics.gauge("gfs_chunkserver_push_buffer_bytes", "Memory held by pushed data waiting to be written", () => this.buffer.usedBytes);
    // Listening on every interface: advertised by this machine's first external address, which other machines can reach.
    const host = advertisedHost(this.cfg.listenHost);
    this.addr = this.cfg.advertise ?? `${host}:${this.listener.port}`;
    this.log.info(`listening on ${this.cfg.listenHost}:${this.listener.port} (advertised as ${this.addr}), id ${this.id}, rack ${this.cfg.rack}, CRC32C ${checksumImplementation()}`);
    if (!this.cfg.secret && !isLoopbackHost(this.cfg.listenHost)) this.log.warn(`no cluster secret configured and listening on ${this.cfg.listenHost}: anyone who can reach this port can read chunks (--secret-file)`);
    for (const addr of new Set(this.cfg.master.split(",").map((a) => a.trim()).filter(Boolean))) void this.masterLoop(addr);
    if (this.cfg.scrubIntervalMs > 0) this.scheduleScrub();
  }

  /** Resolves once the master has accepted the first registration. */
  whenRegistered(): Promise<void> {
    return this.registered;
  }

  /** Client data requests served (pushes, mutations, reads for clients): copies yield while it moves. */
  private clientDataServed = 0;
  /** A request served, from a client, a peer or the master: counted (the RPC log has it from the connection). */
  private readonly served = (type: RequestType, outcome: string, ms: number, peer: Peer): void => {
    if (CLIENT_DATA.has(type) && (type !== "read" || peer.remoteRole === "client")) this.clientDataServed++;
    this.metrics.served(type, outcome, ms);
  };

  /** What /status.json shows for this server. */
  statusSnapshot(): unknown {
    return {
      id: this.id, address: this.addr, rack: this.cfg.rack, master: this.cfg.master, registered: [...this.links.values()].some((l) => l.registered), leader: this.master ? this.leaderLink()?.addr : undefined,
      chunks: this.store?.count ?? 0, ...this.space(), pushBufferBytes: this.buffer.usedBytes,
      readBytes: this.bytesRead.get(), writtenBytes: this.bytesWritten.get(), pushedBytes: this.bytesPushed.get(), scrubbedBytes: this.bytesScrubbed.get(),
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.listener?.stop();
    for (const l of this.links.values()) l.peer?.close("stopping");
    this.pool.closeAll();
    this.waits.closeAll();
    this.store?.closeAll();
    await this.rpcLog.close(); // the requests of its last half second too
    this.lock.release();
  }

  // ---- master connection ----

  /** The connection to the master that leads (the one with the highest epoch that says so); null while none does. */
  private leaderLink(): MasterLink | null {
    let best: MasterLink | null = null;
    for (const l of this.links.values()) {
      if (!l.registered || !l.peer || l.peer.closed || !l.leading || l.epoch < this.highestEpoch) continue;
      if (!best || l.epoch > best.epoch) best = l;
    }
    return best;
  }

  /** The leading master's connection. */
  private get master(): Peer | null {
    return this.leaderLink()?.peer ?? null;
  }

  /** The keys lease tokens are checked with: from the secret, else those the masters sent. */
  private tokenKeys(): Uint8Array[] {
    if (this.secretTokenKey) return [this.secretTokenKey];
    return [...this.links.values()].flatMap((l) => (l.tokenKey ? [l.tokenKey] : []));
  }

  /** What a master's reply says of its leadership; true when it leads (and may be obeyed). */
  private noteLeadership(link: MasterLink, rep: Leadership): boolean {
    const leading = rep.leading ?? true;
    const epoch = rep.epoch ?? 0;
    if (leading && epoch > this.highestEpoch) {
      if (this.highestEpoch > 0) this.log.info(`master ${link.addr} leads (epoch ${epoch}, was ${this.highestEpoch})`);
      this.highestEpoch = epoch;
    }
    link.leading = leading;
    link.epoch = epoch;
    return leading && epoch >= this.highestEpoch;
  }

  private async masterLoop(addr: string): Promise<void> {
    const link: MasterLink = { addr, peer: null, registered: false, registering: null, leading: false, epoch: 0, tokenKey: null, registeredAsLeaderOf: -1 };
    this.links.set(addr, link);
    let backoffMs = 100;
    while (!this.stopped) {
      try {
        const master = await connect(addr, "chunkserver", this.id, {
          secret: this.cfg.secret,
          logger: this.log,
          onRequest: (t, b, p) => this.onRequest(t, b, p),
          onServed: this.served,
          rpcLog: this.rpcLog,
        });
        link.peer = master;
        await this.register(link);
        backoffMs = 100;
        await this.heartbeatLoop(link);
      } catch (err) {
        if (err instanceof GfsError && err.code === ErrorCode.AUTH) {
          // A wrong secret does not fix itself: say so once and stop.
          this.log.error(`master ${addr} refused this server: ${err.message}`);
          this.onFatal?.(err);
          return;
        } else if (!this.stopped) {
          this.log.warn(`master ${addr}: ${(err as Error).message}; retrying`);
        }
      }
      link.peer?.close("reconnecting");
      link.peer = null;
      link.registered = false;
      if (this.stopped) return;
      await sleep(backoffMs);
      backoffMs = Math.min(backoffMs * 2, 2_000);
    }
  }

  /** Registers over `link`; until the answer is read, commands arriving on it wait for it (onRequest). */
  private register(link: MasterLink): Promise<void> {
    const done = this.sendRegistration(link).finally(() => {
      if (link.registering === done) link.registering = null;
    });
    link.registering = done;
    return done;
  }

  private async sendRegistration(link: MasterLink): Promise<void> {
    const master = link.peer!;
    if (!this.store) {
      // The chunk size is the cluster's; learn it before opening the store.
      const probe = await master.call("cluster", {});
      if (!this.store) {
        this.chunkSizeBytes = probe.chunkSize;
        this.store = new ChunkStore(this.cfg.dataDir, this.chunkSizeBytes);
        const { loaded, damaged, unfinished } = this.store.load();
        this.log.info(`loaded ${loaded} chunks from ${this.store.dir}${damaged.length ? `, ${damaged.length} damaged` : ""}${unfinished.length ? `; ${unfinished.length} unfinished copies deleted` : ""}`);
        for (const h of damaged) this.log.warn(`chunk ${handleName(h)} damaged on disk (${this.store.get(h)?.damage}); not reported`);
      }
    }
    // The master's answer is about the replicas this registration lists, not ones created while it travels.
    const registeredBy = this.store.birthCount;
    const rep = await master.call("register", {
      id: this.id,
      addr: this.addr,
      rack: this.cfg.rack,
      ...this.space(),
      chunks: this.store.reports(),
    });
    this.heartbeatMs = rep.heartbeatMs;
    if (!this.cfg.secret) {
      if (!(rep.tokenKey instanceof Uint8Array)) throw new GfsError(ErrorCode.PROTOCOL, "the master sent no lease token key");
      link.tokenKey = rep.tokenKey;
    }
    link.registered = true;
    const obeyed = this.noteLeadership(link, rep);
    if (obeyed) {
      link.registeredAsLeaderOf = link.epoch;
      this.discard(rep.discard, "master does not want it", registeredBy);
    }
    this.log.info(`registered with master ${link.addr}${rep.leading === false ? " (a standby)" : ""} (${this.store.count} chunks)`);
    this.markRegistered();
  }

  private async heartbeatLoop(link: MasterLink): Promise<void> {
    const master = link.peer!;
    while (!this.stopped && !master.closed) {
      await sleep(this.heartbeatMs);
      if (this.stopped || master.closed) return;
      const wasLeader = this.leaderLink() === link;
      const sizes = wasLeader
        ? [...this.reportSizes].flatMap(([h, size]) => {
            const c = this.store.get(h);
            return c ? [{ handle: h, version: c.version, size }] : [];
          })
        : [];
      if (wasLeader) this.reportSizes.clear();
      const sentBy = this.store.birthCount;
      const rep = await master.call("heartbeat", {
        ...this.space(),
        chunks: this.store.count,
        extend: wasLeader ? this.order.takeActive() : [],
        sizes,
        listed: this.nextListing(link),
        io: { read: this.bytesRead.get(), written: this.bytesWritten.get() },
      }, Math.max(this.heartbeatMs * 3, 5_000));
      if (!this.noteLeadership(link, rep)) continue;
      if (link.registeredAsLeaderOf !== link.epoch) {
        // Newly elected: it learns every replica here from a full registration, as after a restart.
        await this.register(link);
        continue;
      }
      for (const h of rep.extended) this.order.extend(h, rep.leaseMs, Date.now());
      this.discard(rep.discard, "deleted on the master", sentBy);
    }
  }

  /**
   * Capacity and use as the master weighs them: used is capacity minus what
   * can still be written. Without --capacity that is the data directory's
   * disk as a whole (what other files take counts as used); with it, at most
   * that many bytes of chunks, and never more than the disk has free.
   */
  private space(): { usedBytes: number; capacityBytes: number } {
    try {
      const s = statfsSync(this.cfg.dataDir);
      const total = Number(s.blocks) * Number(s.bsize);
      const avail = Number(s.bavail) * Number(s.bsize);
      const cap = this.cfg.capacityBytes;
      const capacityBytes = cap ? Math.min(total, cap) : total;
      const freeBytes = cap ? Math.min(avail, Math.max(0, cap - (this.store ? this.store.usedBytes() : 0))) : avail;
      return { usedBytes: Math.max(0, capacityBytes - freeBytes), capacityBytes };
    } catch {
      return { usedBytes: this.store ? this.store.usedBytes() : 0, capacityBytes: 0 };
    }
  }

  /**
   * Every heartbeat lists a slice of this server's chunks, going round them
   * all in turn: the master answers (in `discard`) with the ones it no longer
   * wants, so an orphan (a create that finished after the master gave up on
   * it, a chunk deleted while this server was away) does not stay for good.
   */
  private nextListing(link: MasterLink): ChunkReport[] {
    const all = this.store.reports();
    if (all.length === 0) return [];
    if (link.listCursor === undefined || link.listCursor >= all.length) link.listCursor = 0;
    const slice = all.slice(link.listCursor, link.listCursor + LISTED_PER_HEARTBEAT);
    link.listCursor += slice.length;
    return slice;
  }

  /**
   * Deletes chunks the master does not want, at most DELETES_PER_ROUND at a
   * time: the rest wait for the next heartbeat, so a big deletion never
   * stalls requests.
   */
  private discard(handles: Handle[], why: string, bornBy: number): void {
    for (const h of handles) this.toDelete.set(h, { why, bornBy });
    let n = 0;
    for (const [h, { why, bornBy }] of this.toDelete) {
      if (n++ >= DELETES_PER_ROUND) break;
      this.deleteNow(h, why, bornBy);
    }
  }

  /**
   * Deletes a replica. With `bornBy`, only one that was here when the request
   * the master answered was sent: a copy made since (a clone that began
   * while a listing of the old replica travelled) is not what it meant.
   */
  private deleteNow(h: Handle, why: string, bornBy = Infinity): void {
    this.toDelete.delete(h);
    if (!this.store.has(h)) return;
    if (!this.store.hasBornBy(h, bornBy)) {
      this.log.info(`chunk ${handleName(h)} kept: the master's deletion (${why}) was about the replica this one replaced`);
      return;
    }
    this.store.delete(h);
    this.order.dropLease(h);
    this.tokensSeen.delete(h);
    this.log.info(`chunk ${handleName(h)} deleted: ${why}`);
  }

  private reportCorrupt(handle: Handle, reason: string): void {
    // A failed write past the end was undone: the bytes here are intact, only writes are refused.
    const writeOnly = this.store.get(handle)?.writeFailed === true;
    this.log.warn(`chunk ${handleName(handle)} ${writeOnly ? "takes no more writes" : "is corrupt"}: ${reason}; reporting to master`);
    this.master?.call("corrupt", { handle, reason, ...(writeOnly ? { writeOnly } : {}) }).catch(() => {});
  }

  // ---- requests ----

  private onRequest(type: RequestType, body: any, peer: Peer): unknown {
    if (!this.store) throw new GfsError(ErrorCode.UNAVAILABLE, "chunk server is not registered with its master yet");
    if (MASTER_COMMANDS.has(type) && (peer !== this.master || peer === null)) {
      // A master may act on a registration (adopt a replica it lists) before its answer is read here: checked once it is.
      const registering = [...this.links.values()].find((l) => l.peer === peer)?.registering;
      if (registering) return registering.catch(() => {}).then(() => this.onRequest(type, body, peer));
      // Only the master, on the connection this server opened to it, changes chunks (R4); with several, only the leader of the highest epoch.
      throw new GfsError(ErrorCode.AUTH, `${type} is taken only from this server's ${this.links.size > 1 ? "leading " : ""}master`);
    }
    switch (type) {
      case "createChunk":
        return this.createChunk(body);
      case "setVersion":
        return this.setVersion(body);
      case "revokeLease":
        checkHandle(body.handle);
        this.order.dropLease(body.handle);
        return {};
      case "copyChunk":
        return this.copyChunk(body);
      case "cloneChunk":
        return this.cloneChunk(body);
      case "push":
        return this.push(body, peer, false);
      case "read":
        return this.read(body, peer);
      case "write":
        return this.writePrimary(body);
      case "append":
        return this.appendPrimary(body, peer);
      case "applyWrite":
        return this.applyWrite(body);
      default:
        throw new GfsError(ErrorCode.NOT_IMPLEMENTED, `${type} is not served by a chunk server`);
    }
  }

  private onNotify(type: NotifyType, body: any, peer: Peer): void {
    if (type === "pushAhead") {
      const failed = (err: unknown) => this.log.debug(`push ${body.dataId} from ${peer.remote}: ${(err as Error).message}`);
      try {
        this.push(body, peer, true).catch(failed);
      } catch (err) {
        return failed(err); // the mutation naming it fails and is retried
      }
      this.bytesPushed.inc({}, body.data?.byteLength ?? 0);
    } else if (type !== "pushData") return;
    else this.bytesPushed.inc({}, body.data?.byteLength ?? 0);
    const push = this.pushes.get(body.dataId);
    if (!push) return; // a push that already failed or timed out: drop its pieces
    let done: boolean;
    try {
      done = this.buffer.add(body.dataId, body.data, Date.now());
    } catch (err) {
      // Its buffer was taken back (aged out, or longer than announced): that push fails, the connection stays.
      push.fail(err as Error);
      return;
    }
    push.piece(this.buffer.receivedBytes(body.dataId), done);
  }

  /** Pushes whose sender went away will not complete. */
  private upstreamClosed(peer: Peer): void {
    for (const push of [...this.pushes.values()]) {
      if (push.upstream === peer) push.fail(new GfsError(ErrorCode.UNAVAILABLE, `the sender of a push (${peer.remote}) went away`));
    }
  }

  private createChunk(b: ReqBody<"createChunk">): {} {
    checkHandle(b.handle);
    this.store.create(b.handle, b.version);
    this.log.debug(`chunk ${handleName(b.handle)} created at version ${b.version}`);
    return {};
  }

  private setVersion(b: ReqBody<"setVersion">): { size: number } {
    checkHandle(b.handle);
    const c = this.store.get(b.handle);
    if (!c || c.corrupt) throw new GfsError(ErrorCode.NOT_FOUND, `no good replica of chunk ${handleName(b.handle)} here`);
    if (b.version < c.version) throw new GfsError(ErrorCode.STALE, `chunk ${handleName(b.handle)} is already at version ${c.version}`);
    if (b.version > c.version) this.store.setVersion(b.handle, b.version);
    this.order.versionChanged(b.handle, b.version);
    this.waits.versionChanged(b.handle, b.version);
    if (b.lease) {
      this.order.grantLease(b.handle, b.version, b.lease.leaseMs, b.lease.secondaries, Date.now(), c.sizeBytes, b.lease.token);
      this.log.debug(`chunk ${handleName(b.handle)}: primary at version ${b.version}`);
    }
    return { size: c.sizeBytes };
  }

  private async copyChunk(b: ReqBody<"copyChunk">): Promise<{ size: number }> {
    checkHandle(b.from);
    checkHandle(b.to);
    const c = this.store.get(b.from);
    if (!c) throw new GfsError(ErrorCode.STALE, `no replica of chunk ${handleName(b.from)} here`);
    // Ahead of the master's version is a raise not yet logged, which moves no byte (versions.ts).
    if (c.version < b.version) throw new GfsError(ErrorCode.STALE, `chunk ${handleName(b.from)} here is at version ${c.version}, behind ${b.version}`);
    const size = await this.store.copy(b.from, b.to, b.version);
    this.acknowledged(b.to, size);
    this.log.info(`chunk ${handleName(b.from)} copied to ${handleName(b.to)} here (copy-on-write, ${size} bytes)`);
    return { size };
  }

  /**
   * Re-replication (M11): reads the chunk from a peer holding it, piece by
   * piece (each checked against its transit CRC, the source having verified
   * its stored blocks), and writes it here, computing block checksums anew.
   * Anything short of a whole copy is deleted.
   */
  private async cloneChunk(b: ReqBody<"cloneChunk">): Promise<{ size: number }> {
    checkHandle(b.handle);
    const have = this.store.get(b.handle);
    if (have && have.version >= b.version && !have.corrupt) throw new GfsError(ErrorCode.EXISTS, `chunk ${handleName(b.handle)} is already here at version ${have.version}`);
    if (have) this.deleteNow(b.handle, "replaced by a clone");
    this.toDelete.delete(b.handle); // a deletion queued before this copy was asked for is void
    const t0 = Date.now();
    this.store.create(b.handle, b.version, true);
    try {
      const source = await this.pool.get(b.from);
      let clientDataSeen = this.clientDataServed;
      let offset = 0;
      let total = Infinity;
      while (offset < total) {
        const r = await source.call("read", { handle: b.handle, version: b.version, offset, length: CLONE_PIECE_BYTES });
        if (transitCrc(r.data) !== r.crc) throw new GfsError(ErrorCode.CHECKSUM, `a piece of chunk ${handleName(b.handle)} from ${b.from} arrived damaged`);
        total = r.chunkBytes;
        if (r.data.byteLength === 0) {
          if (offset < total) throw new GfsError(ErrorCode.STALE, `chunk ${handleName(b.handle)} on ${b.from} ended at ${offset} of ${total} bytes`);
          break;
        }
        await this.store.write(b.handle, offset, r.data);
        this.bytesWritten.inc({}, r.data.byteLength);
        offset += r.data.byteLength;
        // Paced at bytesPerSec on average since the start, trickling while clients move data here (pacing.ts).
        const clientsBusy = this.clientDataServed !== clientDataSeen;
        clientDataSeen = this.clientDataServed;
        const pauseMs = copyPauseMs(offset, Date.now() - t0, b.bytesPerSec, r.data.byteLength, clientsBusy);
        if (pauseMs > 0) await sleep(pauseMs);
      }
      // A source shorter than what the master knows was acknowledged is damaged: its copy would be too.
      if (offset < (b.minSize ?? 0)) throw new GfsError(ErrorCode.SHORT, `chunk ${handleName(b.handle)} on ${b.from} holds ${offset} bytes, fewer than the ${b.minSize} acknowledged`);
      await this.store.completed(b.handle);
      this.log.info(`chunk ${handleName(b.handle)} cloned from ${b.from} (${offset} bytes at version ${b.version}, ${Date.now() - t0} ms)`);
      return { size: offset };
    } catch (err) {
      this.store.delete(b.handle);
      throw err;
    }
  }

  private async read(b: ReqBody<"read">, peer: Peer): Promise<RepBody<"read">> {
    checkHandle(b.handle);
    const length = Math.min(b.length, MAX_READ_BYTES);
    // Replies in the making are bounded per connection, and none starts while
    // earlier ones wait to be read (R5).
    let budget = this.readBudgets.get(peer);
    if (!budget) this.readBudgets.set(peer, (budget = new ReadBudget(READ_BUDGET_BYTES)));
    await budget.acquire(length);
    try {
      if (peer.sendQueuedBytes > READ_BUDGET_BYTES) await peer.writable();
      const c = this.store.get(b.handle);
      if (!c) throw new GfsError(ErrorCode.NOT_FOUND, `no chunk ${handleName(b.handle)} here`);
      if (c.version < b.version) throw new GfsError(ErrorCode.STALE, `replica of chunk ${handleName(b.handle)} here is at version ${c.version} < ${b.version}`);
      const data = await this.store.read(b.handle, b.offset, length);
      this.bytesRead.inc({}, data.byteLength);
      return { chunkBytes: c.sizeBytes, data, crc: transitCrc(data) };
    } catch (err) {
      if (err instanceof GfsError && err.code === ErrorCode.CHECKSUM) this.reportCorrupt(b.handle, err.message);
      throw err;
    } finally {
      budget.release(length);
    }
  }

  // ---- data push (D1): store while forwarding down the chain ----

  /**
   * Receives a push and forwards it down its chain. A push `ahead` (record
   * append) has no reply: the client does not wait for it, and a failure
   * shows as the failure of the mutation that names it.
   */
  private push(b: ReqBody<"push">, upstream: Peer, ahead: boolean): Promise<{}> {
    const dataId = b.dataId;
    // The entry is created synchronously: the pieces follow on this connection.
    try {
      // A client's pushes share a part of the buffer; chunk servers forwarding a chain do not.
      this.buffer.begin(dataId, b.size, Date.now(), b.crc, upstream.remoteRole === "chunkserver" ? undefined : upstream.remote);
    } catch (err) {
      this.waits.pushFailed(dataId, err as Error);
      throw err;
    }
    const whole = this.buffer.whole(dataId)!;
    const next: string | undefined = b.chain[0];
    let receivedBytes = 0;
    let wake: (() => void) | null = null;
    let failed: Error | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let settle!: (err?: Error) => void;
    const received = new Promise<void>((resolve, reject) => {
      settle = (err) => (err ? reject(err) : resolve());
    });
    const fail = (err: Error) => {
      if (failed) return;
      failed = err;
      clearTimeout(timer);
      this.pushes.delete(dataId);
      this.buffer.drop(dataId);
      this.waits.pushFailed(dataId, err);
      wake?.();
      settle(err);
    };
    // A push is given up when its sender's connection goes silent; on a busy
    // connection its pieces may come far apart, behind other pushes.
    const stalled = () => {
      // Silence while we ourselves stopped reading the sender (a congested next hop) is not the sender's.
      const quietMs = upstream.readingPaused ? 0 : upstream.receivedAgoMs(Date.now());
      if (quietMs >= PUSH_STALL_MS) fail(new GfsError(ErrorCode.TIMEOUT, `push ${dataId} from ${upstream.remote}: the sender sent nothing for ${PUSH_STALL_MS} ms`));
      else timer = setTimeout(stalled, PUSH_STALL_MS - quietMs);
    };
    timer = setTimeout(stalled, PUSH_STALL_MS);
    const piece = (bytes: number, done: boolean) => {
      receivedBytes = bytes;
      this.lastPushDataMs = Date.now();
      // Data on its way to a chunk leased here is part of mutating it: keep the lease.
      if (b.handle) this.order.touch(b.handle);
      wake?.();
      if (done) {
        clearTimeout(timer);
        this.pushes.delete(dataId);
        settle();
        this.waits.arrived(dataId); // a mutation already asked for these bytes
      }
    };
    this.pushes.set(dataId, { upstream, piece, fail });
    if (this.buffer.isComplete(dataId)) piece(b.size, true);

    // Forward each piece as it arrives (pipelined), pausing the upstream
    // connection while the next hop is congested (W4). A mutation may take
    // the bytes from the push buffer before they are all forwarded: forwarding
    // reads the buffer itself, which is not recycled until it is done.
    const forward = async (): Promise<void> => {
      if (next === undefined) return;
      this.unrecyclable.add(whole);
      let reply: Promise<unknown> | null = null;
      try {
        const { downstream, chain } = await this.nextHop(dataId, b.chain, ahead);
        let sent = 0;
        const rest = { dataId, size: b.size, chain, crc: b.crc, handle: b.handle ?? undefined };
        if (ahead) {
          sent = Math.min(receivedBytes, FORWARD_PIECE_BYTES);
          downstream.notifyData("pushAhead", rest, whole.subarray(0, sent));
        } else {
          reply = downstream.call("push", rest);
          reply.catch(fail);
        }
        for (;;) {
          if (failed) throw failed;
          while (sent < receivedBytes) {
            if (failed) throw failed;
            if (!downstream.isWritable) {
              upstream.pauseReading();
              await downstream.writable();
              upstream.resumeReading();
            }
            const piece = whole.subarray(sent, Math.min(receivedBytes, sent + FORWARD_PIECE_BYTES));
            downstream.notifyData("pushData", { dataId }, piece);
            sent += piece.byteLength;
          }
          if (sent === b.size) break;
          await new Promise<void>((r) => (wake = r));
          wake = null;
        }
        await reply;
      } finally {
        if (!ahead) this.unrecyclable.delete(whole);
      }
    };

    return Promise.all([received, forward()]).then(
      () => ({}),
      (err) => {
        fail(err);
        upstream.resumeReading();
        throw err;
      },
    );
  }

  /**
   * The connection to the next server of a push chain. A push ahead (record
   * append) skips servers it cannot reach, so one dead replica does not cut
   * off the ones after it: a retry on a lease without the dead one finds the
   * data already there. A push with a reply fails instead (the client pushes
   * again on a new lease).
   */
  private async nextHop(dataId: string, chain: string[], skipUnreachable: boolean): Promise<{ downstream: Peer; chain: string[] }> {
    for (let i = 0; ; i++) {
      try {
        return { downstream: await this.pool.get(chain[i]!), chain: chain.slice(i + 1) };
      } catch (err) {
        if (!skipUnreachable || i === chain.length - 1) throw err;
        this.log.debug(`push ${dataId}: ${chain[i]} is unreachable (${(err as Error).message}); forwarding to ${chain[i + 1]}`);
      }
    }
  }

  // ---- mutations (D2, D5) ----
  //
  // A mutation names its data by push id. The client may send the request
  // while the push is still travelling (record append does), so each replica
  // queues the write in the chunk's order at once and runs it when the bytes
  // are here (DataWaits).

  private async writePrimary(b: ReqBody<"write">): Promise<{ chunkBytes: number }> {
    checkHandle(b.handle);
    this.checkRange(b.offset, b.size);
    const c = this.store.get(b.handle);
    if (!c) throw new GfsError(ErrorCode.STALE, `no replica of chunk ${handleName(b.handle)} here`);
    const leaseSecondaries = this.order.secondariesOf(b.handle, Date.now());
    // Connections first, so that serial assignment, local apply and forwarding
    // below run without yielding and reach each secondary in serial order.
    const peers = await Promise.all(leaseSecondaries.map((s) => this.pool.get(s.addr)));
    const d = this.order.beginPrimary(b.handle, b.version, Date.now(), b.offset + b.size);
    const chunkBytes = await this.mutateAsPrimary({ handle: b.handle, version: b.version, offset: b.offset, dataId: b.dataId, size: b.size, serial: d.serial }, d, peers);
    return { chunkBytes };
  }

  /**
   * Record append as primary (D3): pick the offset, write the record there
   * here and on every secondary; when it does not fit, pad the chunk to its
   * full size everywhere and answer CHUNK_FULL so the client moves on.
   */
  private async appendPrimary(b: ReqBody<"append">, from: Peer): Promise<{ offset: number }> {
    checkHandle(b.handle);
    if (!this.store.get(b.handle)) throw new GfsError(ErrorCode.STALE, `no replica of chunk ${handleName(b.handle)} here`);
    if (b.size > this.chunkSizeBytes / 4) {
      if (b.data === undefined) this.waits.discard(b.dataId);
      throw new GfsError(ErrorCode.RECORD_TOO_LARGE, `a record of ${b.size} bytes is over a quarter of the chunk size (${this.chunkSizeBytes / 4} bytes)`);
    }
    if (b.data !== undefined) return this.inlineHeld.hold(from, checkInline(b), () => this.appendAsPrimary(b));
    return this.appendAsPrimary(b);
  }

  private async appendAsPrimary(b: ReqBody<"append">): Promise<{ offset: number }> {
    const peers = await Promise.all(this.order.secondariesOf(b.handle, Date.now()).map((s) => this.pool.get(s.addr)));
    // From here to the forwards nothing yields: offsets, serials and forwards stay in order.
    const d = this.order.decideAppend(b.handle, b.version, b.size, this.chunkSizeBytes, Date.now());
    if (d.kind !== "append") {
      // Pushed data stays in the push buffer: the client names it again for the next chunk (or it ages out); inline data comes again.
      if (d.kind === "pad") {
        const pad = this.mutateAsPrimary({ handle: b.handle, version: b.version, offset: d.offset, dataId: "", size: d.padBytes, serial: d.serial, zeros: true }, d, peers).catch((err) => {
          this.order.padFailed(b.handle, b.version, d.offset);
          throw err;
        });
        this.padding.set(b.handle, pad);
        try {
          await pad;
        } finally {
          if (this.padding.get(b.handle) === pad) this.padding.delete(b.handle);
        }
        this.log.debug(`chunk ${handleName(b.handle)} padded from ${d.offset}: full`);
      } else {
        // Full only once the pad in flight has succeeded on every replica.
        const pad = this.padding.get(b.handle);
        if (pad) await pad.catch((err) => Promise.reject(new GfsError(ErrorCode.UNAVAILABLE, `padding chunk ${handleName(b.handle)} failed: ${(err as Error).message}`)));
      }
      throw new GfsError(ErrorCode.CHUNK_FULL, `chunk ${handleName(b.handle)} is full`);
    }
    const data = b.data === undefined ? {} : { data: b.data, crc: b.crc };
    await this.mutateAsPrimary({ handle: b.handle, version: b.version, offset: d.offset, dataId: b.dataId, size: b.size, serial: d.serial, ...data }, d, peers);
    return { offset: d.offset };
  }

  /**
   * Carries out a mutation the primary has ordered (D2): shown with the
   * lease's token, applied here and on every secondary; its end is then
   * acknowledged. The lease counts it as in flight until it settles.
   */
  private async mutateAsPrimary(m: Omit<Mutation, "lease">, lease: { secondaries: ReplicaRef[]; token: Uint8Array }, peers: Peer[]): Promise<number> {
    try {
      if (lease.secondaries.length !== peers.length) throw new GfsError(ErrorCode.NOT_PRIMARY, `lease on chunk ${handleName(m.handle)} changed`);
      const chunkBytes = await this.applyEverywhere({ ...m, lease: this.proof(lease.secondaries, lease.token) }, peers, lease.secondaries);
      this.acknowledged(m.handle, m.offset + m.size);
      return chunkBytes;
    } finally {
      this.order.settled(m.handle, m.version);
    }
  }

  /**
   * Bytes up to `end` are on every replica of the lease: reported to the
   * master, which checks readers against it (a replica shorter than that is
   * damaged). Lengths that include failed mutations are never reported.
   */
  private acknowledged(handle: Handle, end: number): void {
    if (end > (this.reportSizes.get(handle) ?? 0)) this.reportSizes.set(handle, end);
  }

  /** Applies a mutation here and forwards it to the secondaries at once; succeeds only if all did. */
  private async applyEverywhere(m: Mutation, peers: Peer[], secondaries: ReplicaRef[]): Promise<number> {
    // The local write and the secondaries' writes proceed at the same time.
    const local = this.applyLocal(m);
    const forwards = m.data === undefined ? peers.map((p) => p.call("applyWrite", m)) : forwardInline(m, m.data, peers);
    const chunkBytes = await local.catch(async (err) => {
      await Promise.allSettled(forwards);
      // Past ordering, the data may be used up somewhere: never answer as if refused before use (appender.ts).
      if (err instanceof GfsError && (err.code === ErrorCode.STALE || err.code === ErrorCode.NOT_PRIMARY || err.code === ErrorCode.CHUNK_FULL)) {
        throw new GfsError(ErrorCode.UNAVAILABLE, `mutation of chunk ${handleName(m.handle)} failed here: ${err.message}`);
      }
      throw err;
    });
    const results = await Promise.allSettled(forwards);
    const failures = results.flatMap((r, i) => (r.status === "rejected" ? [`${secondaries[i]!.addr}: ${(r.reason as Error).message}`] : []));
    if (failures.length > 0) {
      throw new GfsError(ErrorCode.UNAVAILABLE, `mutation of chunk ${handleName(m.handle)} failed on ${failures.length} secondar${failures.length === 1 ? "y" : "ies"}: ${failures.join("; ")}`);
    }
    return chunkBytes;
  }

  /** A mutation's byte range must lie inside a chunk; checked before it changes any order or lease state. */
  private checkRange(offset: number, size: number): void {
    if (offset + size > this.chunkSizeBytes) throw new GfsError(ErrorCode.INVALID_ARGUMENT, `a write of ${size} bytes at ${offset} passes the chunk size ${this.chunkSizeBytes}`);
  }

  /** The lease as this primary shows it to its secondaries. */
  private proof(secondaries: ReplicaRef[], token: Uint8Array): LeaseProof {
    return { primary: this.id, secondaries: secondaries.map((s) => s.id), token };
  }

  /**
   * Whether a mutation comes from the holder of the chunk's current lease
   * (R4): the master's token over (chunk, version, primary, secondaries), with
   * this server among the secondaries. A token checked once per lease is
   * remembered.
   */
  private leaseShown(b: ReqBody<"applyWrite">): boolean {
    const p = b.lease as Partial<LeaseProof> | undefined;
    if (!p || !(p.token instanceof Uint8Array) || typeof p.primary !== "string" || !Array.isArray(p.secondaries) || !p.secondaries.includes(this.id)) return false;
    const known = this.tokensSeen.get(b.handle);
    if (known && known.version === b.version && Buffer.compare(known.token, p.token) === 0) return true;
    const lease = { handle: b.handle, version: b.version, primary: p.primary, secondaries: p.secondaries };
    // Signed with the secret's key, or (no secret) with the key of one of the masters: a lease granted just before a change of leader stays good.
    if (!this.tokenKeys().some((k) => leaseTokenValid(k, lease, p.token!))) return false;
    this.tokensSeen.set(b.handle, { version: b.version, token: p.token });
    return true;
  }

  private applyWrite(b: ReqBody<"applyWrite">): Promise<{ chunkBytes: number }> {
    checkHandle(b.handle);
    const c = this.store.get(b.handle);
    if (!c) throw new GfsError(ErrorCode.STALE, `no replica of chunk ${handleName(b.handle)} here`);
    if (c.version !== b.version) throw new GfsError(ErrorCode.STALE, `chunk ${handleName(b.handle)} here is at version ${c.version}, not ${b.version}`);
    if (!this.leaseShown(b)) throw new GfsError(ErrorCode.AUTH, `a mutation of chunk ${handleName(b.handle)} without a valid lease token is refused`);
    this.checkRange(b.offset, b.size);
    if (b.data !== undefined) checkInline(b);
    this.order.acceptSerial(b.handle, b.version, b.serial);
    return this.applyLocal(b).then((chunkBytes) => ({ chunkBytes }));
  }

  /** Queues the write in the chunk's order now (without yielding); it runs once its data is here. */
  private async applyLocal(m: Mutation): Promise<number> {
    const failedBefore = this.store.get(m.handle)?.writeFailed === true;
    const input = m.zeros ? { data: new Uint8Array(m.size) } : m.data !== undefined ? { data: m.data, crc: m.crc } : this.waits.get(m.dataId, m.size, m.handle, m.version);
    try {
      const size = await this.store.write(m.handle, m.offset, input);
      this.bytesWritten.inc({}, m.size);
      if (input instanceof Promise) {
        const { data } = await input;
        if (!this.unrecyclable.has(data)) this.buffer.recycle(data);
      }
      return size;
    } catch (err) {
      // A replica whose writes are refused since one failed was reported then: once is enough.
      const refusedAgain = err instanceof GfsError && err.code === ErrorCode.DISK && failedBefore;
      if (err instanceof GfsError && (err.code === ErrorCode.CHECKSUM || err.code === ErrorCode.DISK) && !refusedAgain) this.reportCorrupt(m.handle, err.message);
      throw err;
    }
  }

  // ---- scrubbing (C2): verify chunks nobody reads ----

  /**
   * One pass over every chunk per `--scrub-interval`, at most `--scrub-rate`
   * bytes a second, skipping chunks this server is writing as primary now;
   * a damaged one is reported, and the master replaces it from a good replica.
   */
  private scheduleScrub(delayMs = this.cfg.scrubIntervalMs): void {
    const t = setTimeout(async () => {
      if (this.stopped || !this.store) return this.scheduleScrub();
      const started = Date.now();
      let bytes = 0;
      for (const r of this.store.reports()) {
        if (this.stopped) return;
        if (this.order.secondariesOf(r.handle, Date.now()).length > 0 || !this.store.has(r.handle)) continue;
        if (!(await this.store.verify(r.handle)) && this.store.has(r.handle)) this.reportCorrupt(r.handle, "found by the scrubber");
        bytes += r.size;
        this.bytesScrubbed.inc({}, r.size);
        // Paced, and yielding to requests between chunks.
        await sleep(Math.max(1, averagePauseMs(bytes, Date.now() - started, this.cfg.scrubBytesPerSec)));
      }
      this.scheduleScrub(Math.max(0, this.cfg.scrubIntervalMs - (Date.now() - started)));
    }, delayMs);
    this.timers.push(t);
  }
}

/** This server's connection to one master. */
interface MasterLink {
  addr: string;
  peer: Peer | null;
  registered: boolean;
  /** The registration being sent on this connection, until its answer is read. */
  registering: Promise<void> | null;
  /** What the master last said: whether it leads, and its epoch. */
  leading: boolean;
  epoch: number;
  /** The key it signs lease tokens with (a cluster without a secret). */
  tokenKey: Uint8Array | null;
  /** The epoch it last received a full registration in as leader (-1: never). */
  registeredAsLeaderOf: number;
  /** Where the next heartbeat's chunk listing starts. */
  listCursor?: number;
}

/** Bytes of inline appends one connection may have in progress (net/PROTOCOL.md). */
const INLINE_HELD_BYTES = 4 * 1024 * 1024;

/** Requests that carry clients' data (a read only when a client sends it: copies read from peers). */
const CLIENT_DATA: ReadonlySet<RequestType> = new Set<RequestType>(["push", "write", "append", "applyWrite", "read"]);

/** Requests that change chunks on the master's say. */
const MASTER_COMMANDS: ReadonlySet<RequestType> = new Set<RequestType>(["createChunk", "setVersion", "revokeLease", "copyChunk", "cloneChunk"]);

/** A mutation as the primary sends it to each secondary. */
type Mutation = ReqBody<"applyWrite">;

/** An inline append's mutation to each secondary, its bytes as the frame's tail. */
function forwardInline(m: Mutation, data: Uint8Array, peers: Peer[]): Promise<{ chunkBytes: number }>[] {
  const { data: _, ...fields } = m;
  return peers.map((p) => p.callData("applyWrite", fields, data));
}

/**
 * A record that came inline (append, applyWrite): as long as it says, with
 * its CRC32C, and small. Returns its size.
 */
function checkInline(b: { size: number; data?: Uint8Array; crc?: number }): number {
  const n = b.data!.byteLength;
  if (n !== b.size) throw new GfsError(ErrorCode.INVALID_ARGUMENT, `inline data of ${n} bytes where ${b.size} were announced`);
  if (n > INLINE_APPEND_BYTES) throw new GfsError(ErrorCode.INVALID_ARGUMENT, `inline data of ${n} bytes is over ${INLINE_APPEND_BYTES}: push it`);
  if (b.crc === undefined) throw new GfsError(ErrorCode.INVALID_ARGUMENT, "inline data without its CRC32C");
  return n;
}

function checkHandle(h: unknown): asserts h is Handle {
  if (typeof h !== "number" || !Number.isSafeInteger(h) || h <= 0) throw new GfsError(ErrorCode.INVALID_ARGUMENT, "bad chunk handle");
}
