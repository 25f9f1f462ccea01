// The master daemon: recovers its state, serves the namespace and chunk
// locations, grants leases, tracks chunk servers, and logs every change before
// acknowledging it. Decisions live in state.ts, placement.ts, leases.ts and
// servers.ts; this file does the IO around them.
import { mkdirSync } from "node:fs";
import { advertisedHost } from "../advertised-address";
import { DataDirLock } from "../data-dir-lock";
import { checksumImplementation } from "../checksums";
import { MetricsRegistry } from "../metrics";
import { RpcLog, servedHook } from "../rpc-log";
import { SAMPLE_MS, StatusHistory } from "./status";
import type { ConsolaInstance } from "consola";
import { ErrorCode, GfsError } from "../../net/errors";
import type { ChunkLocation, DirEntry, FsckReport, Handle, LeaseGrant, Leadership, MasterRole, ReplicaRef, ReqBody, RepBody, RequestType, StatReply } from "../../net/messages";
import { DEFAULT_IDLE_MS, connect, isLoopbackHost, listen, type Listener, type Peer } from "../../net/peer";
import { logger, recentEvents } from "../log";
import { selfArgv } from "../self";
import { pruneOld, recover } from "./checkpoint";
import { LeaseTable, type LeaseRecord } from "./leases";
import { NamespaceLocks, lockPlan, type LockMode } from "./locks";
import { OpLog } from "./oplog";
import { EtcdClient } from "./etcd-client";
import { checkpointSlice, fetchCheckpoint } from "./checkpoint-transfer";
import { HaNode, sharedClusterParams } from "./ha-node";
import type { ReplicatedLogWriter } from "./replicated-log";
import { joinPath, normalizePath, splitPath } from "./paths";
import { choosePlacement } from "./placement";
import { Repairs, type RepairConfig } from "./repairs";
import { audit, type FsckFile } from "./fsck";
import { ROOT } from "./namespace";
import { TRASH_DIR, UPLOAD_DIR, abandonedUploads, expiredEntries, newestFirst, reclaimedAtOnce, trashPathFor, within } from "./trash";
import { ServerRegistry, type ServerRecord } from "./servers";
import { establishClusterParams } from "./cluster-params";
import { MasterState, type ClusterParams, type Op } from "./state";
import { HandleBits, VersionByHandle, judgeReplica, nextVersion, staleFate, unwantedReplicas } from "./versions";
import { handleName } from "../handles";
import { signLease, tokenKey } from "../lease-tokens";

export interface MasterConfig {
  dataDir: string;
  listenHost: string;
  listenPort: number;
  chunkSizeBytes: number;
  replication: number;
  leaseMs: number;
  heartbeatMs: number;
  deadAfterMs: number;
  secret: Uint8Array | null;
  /** Log size that triggers a checkpoint. */
  checkpointBytes: number;
  /** Start from the last good record of a damaged operation log (moving the damage aside). */
  recoverLog?: boolean;
  /** Connections idle this long are closed (at least three heartbeats). */
  idleMs?: number;
  /** Re-replication limits (M11); defaults in DEFAULT_REPAIRS. */
  repairs?: RepairConfig;
  /** How long removed files stay in the trash (0: erased at once); default 1 day. */
  trashTtlMs?: number;
  /** How often the trash and abandoned uploads are swept; default 1 minute. */
  gcIntervalMs?: number;
  /** A put's temporary file untouched this long is reclaimed; default 1 hour. */
  uploadTimeoutMs?: number;
  /** High availability (M16): the operation log in etcd, one leader among several masters. */
  ha?: HaOptions;
}

export interface HaOptions {
  endpoints: string[];
  /** Keys live under this prefix (several clusters can share one etcd). */
  prefix: string;
  /** The election lease's TTL. */
  ttlMs: number;
  /** A standby answers reads while it is at most this far behind the log. */
  maxReadLagMs: number;
  /** The address others reach this master at (default: the listening address; the port is known after listening). */
  advertise?: string;
}

/** Requests that change the namespace or chunks: only the leader serves them. */
const MUTATIONS = new Set<RequestType>(["mkdir", "create", "mv", "rm", "undelete", "snapshot", "lease", "complete", "appendLease", "setrep", "drain", "rebalance"]);
/** Requests a standby answers from its copy of the namespace while it is current enough. */
const READS = new Set<RequestType>(["ls", "stat", "locate", "fsck"]);

export const DEFAULT_REPAIRS: RepairConfig = { maxClones: 16, maxPerServer: 2, cloneBytesPerSec: 64 * 1024 * 1024 };

const HANDLE_BATCH = 4096;
/** Trash entries or uploads erased per garbage-collection sweep, at most. */
const SWEEP_LIMIT = 256;
const LOCATE_PREFETCH = 8;
const CHUNKSERVER_CALL_MS = 10_000;
/** A clone reports when it is done: a paced copy of a whole chunk takes a while. */
const CLONE_CALL_MS = 30 * 60_000;
const MAX_REPLICATION = 16;

export class Master {
  readonly log: ConsolaInstance = logger("master");
  state!: MasterState;
  private oplog!: OpLog;
  /** HA: this master's part in the election and the replicated log (null: a single master). */
  ha: HaNode | null = null;
  /** The last change the newest local checkpoint holds. */
  private checkpointedOp = 0;
  /** No repairs before this (chunk servers register after a start or a change of leader). */
  private repairsFrom = 0;
  readonly registry = new ServerRegistry();
  readonly leases: LeaseTable;
  private listener: Listener | null = null;
  private readonly peersById = new Map<string, Peer>();
  private nextHandle = 1;
  private reserving: Promise<void> | null = null;
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly nsLocks = new NamespaceLocks();
  private timers: ReturnType<typeof setInterval>[] = [];
  private checkpointing = false;
  /** Chunks whose next version no replica has been sent in this run: created or last raised here, and logged (versions.ts). */
  private readonly unsent = new HandleBits();
  /** Re-replication (M11). */
  readonly repairs: Repairs;
  /** Chunks whose last live replica was reported damaged (kept on its disk): fsck calls them corrupt. */
  private readonly damagedOnly = new Set<Handle>();
  /**
   * Chunks whose version was raised since their last lease only to copy them
   * (no mutation can have happened since): the version before the first such
   * raise. A replica at or above it holds every acknowledged byte.
   */
  private readonly unchangedSince = new VersionByHandle();
  /** Chunks whose stale replica is being adopted (see adopt). */
  private readonly adopting = new Set<Handle>();
  /** Handles allocated for chunks being created or copied, not in the chunk table yet. */
  private readonly creating = new Set<Handle>();
  private lock: DataDirLock | null = null;
  /** Every request served, to DIR/rpc.log (core/rpc-log.ts). */
  private rpcLog: RpcLog | null = null;
  /** Removals in this millisecond so far (trash names). */
  private trashSeq = 0;
  /** Temporary uploads: when each last created, leased or completed (since this start). */
  private readonly uploadActivity = new Map<string, number>();
  private startedAtMs = Date.now();
  port = 0;
  /** What /metrics shows (core/metrics.ts). */
  readonly metrics = new MetricsRegistry("gfs_master");
  /** Rates over the last hour, for the status page. */
  readonly history = new StatusHistory();
  private fsckCache: { atMs: number; report: FsckReport } | null = null;

  /** Signs lease tokens (core/lease-tokens.ts). */
  private readonly tokenKey: Uint8Array;

  constructor(readonly cfg: MasterConfig) {
    this.leases = new LeaseTable(cfg.leaseMs);
    this.tokenKey = tokenKey(cfg.secret);
    this.repairs = new Repairs({
      state: () => this.state,
      registry: this.registry,
      leases: this.leases,
      log: this.log,
      chunkSizeBytes: () => this.state.params.chunkSizeBytes,
      cloneChunk: (id, body) => this.callServer(id, "cloneChunk", body, CLONE_CALL_MS),
      freeze: (handle) => this.freezeForClone(handle),
      damaged: (handle, id, reason) => {
        const s = this.registry.servers.get(id);
        if (s) this.replicaDamaged(handle, s, reason);
      },
    }, cfg.repairs ?? DEFAULT_REPAIRS);
  }

  async start(): Promise<void> {
    mkdirSync(this.cfg.dataDir, { recursive: true });
    this.lock = DataDirLock.take(this.cfg.dataDir, "master");
    this.rpcLog = new RpcLog(this.cfg.dataDir);
    const etcd = this.cfg.ha ? new EtcdClient(this.cfg.ha.endpoints) : null;
    let params = this.clusterParams();
    if (this.cfg.ha && etcd) {
      // Every master of an HA cluster takes the parameters the first one recorded in etcd.
      const wanted = params;
      const shared = await this.untilAvailable(() => sharedClusterParams(etcd, this.cfg.ha!.prefix, wanted));
      if (shared.chunkSizeBytes !== params.chunkSizeBytes || shared.replication !== params.replication) {
        throw new GfsError(ErrorCode.INVALID_ARGUMENT, `this master's data directory records chunk size ${params.chunkSizeBytes} and replication ${params.replication}, but the cluster in etcd (${this.cfg.ha.prefix}) has ${shared.chunkSizeBytes} and ${shared.replication}: give it the cluster's --chunk-size and --replication and an empty --data`);
      }
      params = shared;
    }
    const t0 = performance.now();
    await this.recoverLocal(params);
    const rec = this.lastRecovery!;
    this.log.info(
      `recovered ${this.state.fileCount} files, ${this.state.dirCount} directories, ${this.state.chunks.size} chunks ` +
        `(checkpoint ${rec.checkpointSeq}, ${rec.replayedOps} logged changes) in ${Math.round(performance.now() - t0)} ms`,
    );
    if (this.cfg.ha && etcd) {
      // Changes committed since the local log's end come from etcd before anything is served.
      this.ha = new HaNode({ etcd, prefix: this.cfg.ha.prefix, ttlMs: this.cfg.ha.ttlMs, address: "", log: this.log }, this.haHost());
      const before = this.state.lastOp;
      // The address is known once listening; a peer's checkpoint, if one is needed, is found through etcd.
      (this.ha.cfg as { address: string }).address = this.cfg.ha.advertise ?? `${advertisedHost(this.cfg.listenHost)}:${this.cfg.listenPort}`;
      await this.untilAvailable(() => this.ha!.catchUpOrFetch());
      this.log.info(`applied changes ${before + 1}..${this.state.lastOp} from the operation log in etcd`);
    }
    this.listener = listen(this.cfg.listenHost, this.cfg.listenPort, {
      secret: this.cfg.secret,
      logger: this.log,
      idleMs: Math.max(this.cfg.idleMs ?? DEFAULT_IDLE_MS, 3 * this.cfg.heartbeatMs),
      onRequest: (t, b, p) => this.onRequest(t, b, p),
      onClose: (p, why) => this.onPeerClosed(p, why),
      onServed: servedHook(this.metrics, () => this.rpcLog),
    });
    this.port = this.listener.port;
    this.describeMetrics();
    if (!this.cfg.secret && !isLoopbackHost(this.cfg.listenHost)) this.log.warn(`no cluster secret configured and listening on ${this.cfg.listenHost}: anyone who can reach this port can read and change the file system (--secret-file)`);
    this.log.info(`listening on ${this.cfg.listenHost}:${this.port} (chunk size ${params.chunkSizeBytes}, replication ${params.replication}), CRC32C ${checksumImplementation()}`);
    if (this.ha && this.cfg.ha) {
      const address = this.cfg.ha.advertise ?? `${advertisedHost(this.cfg.listenHost)}:${this.port}`;
      (this.ha.cfg as { address: string }).address = address;
      this.ha.start();
      this.log.info(`high availability on etcd ${this.cfg.ha.endpoints.join(",")} (prefix ${this.cfg.ha.prefix}, lease ${this.cfg.ha.ttlMs} ms) as ${address}: a standby until elected`);
    }
    const tick = Math.max(50, Math.min(this.cfg.heartbeatMs, this.cfg.deadAfterMs) / 2);
    this.timers.push(setInterval(() => this.checkLiveness(), tick));
    // After a start, chunk servers need a while to register their replicas: no repairs before that.
    this.repairsFrom = Date.now() + this.registrationSettleMs;
    this.timers.push(setInterval(() => {
      const now = Date.now();
      if (now >= this.repairsFrom && this.leads) this.repairs.tick(now);
    }, Math.max(100, Math.min(this.cfg.heartbeatMs, 1_000))));
    this.timers.push(setInterval(() => this.registry.decayCreations(0.5), 10_000));
    const sample = () => {
      const io = this.history.ioTotals;
      this.history.sample(Date.now(), { readBytes: io.read, writtenBytes: io.written, requests: this.metrics.requests.total(), clonedBytes: this.repairs.done.bytes });
    };
    sample();
    this.timers.push(setInterval(sample, SAMPLE_MS));
    this.startedAtMs = Date.now();
    let sweeping = false;
    this.timers.push(setInterval(() => {
      if (sweeping || !this.leads) return;
      sweeping = true;
      this.sweep().catch((err) => this.log.warn(`garbage collection: ${(err as Error).message}`)).finally(() => (sweeping = false));
    }, Math.max(50, this.cfg.gcIntervalMs ?? 60_000)));
  }

  /**
   * Runs `step` until it does not fail for want of etcd or of a peer (HA
   * start): a master started before etcd or its peers waits for them, saying
   * so once, instead of exiting.
   */
  private async untilAvailable<T>(step: () => Promise<T>): Promise<T> {
    let told = "";
    for (;;) {
      try {
        return await step();
      } catch (err) {
        if (!(err instanceof GfsError) || err.code !== ErrorCode.UNAVAILABLE) throw err;
        if (told !== err.message) this.log.warn(`${err.message}: waiting before serving`);
        told = err.message;
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  }

  /** Gauges read when /metrics is scraped, and the log's commit figures. */
  private describeMetrics(): void {
    const m = this.metrics;
    m.gauge("gfs_master_files", "Files in the namespace (the trash included)", () => this.state.fileCount);
    m.gauge("gfs_master_directories", "Directories in the namespace", () => this.state.dirCount);
    m.gauge("gfs_master_chunks", "Chunks in the chunk table", () => this.state.chunks.size);
    m.gauge("gfs_master_chunkservers", "Chunk servers known, by state", () => {
      const by: Record<string, number> = { up: 0, lost: 0, draining: 0 };
      for (const s of this.registry.servers.values()) by[!s.alive ? "lost" : s.draining ? "draining" : "up"]!++;
      return Object.entries(by).map(([state, n]) => [{ state }, n]);
    });
    m.gauge("gfs_master_replicas", "Replicas of live chunk servers the master lists", () => [...this.registry.servers.values()].filter((s) => s.alive).reduce((a, s) => a + s.chunkCount, 0));
    m.gauge("gfs_master_leases", "Chunk leases granted and not yet expired", () => this.leases.size);
    m.gauge("gfs_master_chunks_by_health", "Chunks by what fsck finds (under_replicated, over_replicated, missing, damaged, one_rack, repairing), at most 5 s old", () => {
      const h = this.health();
      return [["under_replicated", h.underReplicated], ["over_replicated", h.overReplicated], ["missing", h.missing], ["damaged", h.corrupt], ["one_rack", h.misplaced], ["repairing", h.repairing]].map(([state, n]) => [{ state: state as string }, n as number]);
    });
    m.gauge("gfs_master_replicas_awaiting_deletion", "Stale or surplus replicas queued for deletion", () => this.health().stale);
    m.gauge("gfs_master_clones_in_flight", "Re-replication and rebalancing copies under way", () => this.repairs.cloning);
    m.gauge("gfs_master_clones_total", "Re-replication copies completed since the start", () => this.repairs.done.clones);
    m.gauge("gfs_master_cloned_bytes_total", "Bytes re-replicated since the start", () => this.repairs.done.bytes);
    m.gauge("gfs_master_clone_failures_total", "Re-replication copies that failed since the start", () => this.repairs.done.failed);
    m.gauge("gfs_master_role", "1 for this master's role: single, leader or standby (HA)", () => [[{ role: this.role("").role }, 1]]);
    m.gauge("gfs_master_epoch", "The leader's epoch this master knows (HA; 0 for a single master)", () => this.ha?.epoch ?? 0);
    m.gauge("gfs_master_log_lag_seconds", "How far behind the replicated log this master may be (HA; 0 for the leader)", () => (this.ha ? this.ha.lagMs() / 1000 : 0));
    m.gauge("gfs_master_applied_change", "Sequence number of the last logged change this master has applied", () => this.state.lastOp);
    const commit = m.histogram("gfs_master_log_commit_seconds", "Time of one durable write of the operation log (HA: one etcd transaction)");
    const batch = m.histogram("gfs_master_log_batch_records", "Changes carried by one durable write of the operation log", [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024]);
    this.logCommitted = (records, ms) => {
      commit.observe(ms / 1000);
      batch.observe(records);
    };
    // HA: a commit is the etcd transaction (lead() below); the local copy is not what acknowledges.
    if (!this.ha) this.oplog.onFlush = this.logCommitted;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.listener?.stop();
    await this.ha?.stop();
    await this.oplog?.close();
    await this.rpcLog?.close();
    this.lock?.release();
  }

  /** Cluster defaults are fixed at the first start and read back afterwards. */
  private clusterParams(): ClusterParams {
    const wanted = { chunkSizeBytes: this.cfg.chunkSizeBytes, replication: this.cfg.replication };
    const { params, recorded } = establishClusterParams(this.cfg.dataDir, wanted);
    if (!recorded && (params.chunkSizeBytes !== wanted.chunkSizeBytes || params.replication !== wanted.replication)) {
      this.log.info(`using the cluster's recorded chunk size ${params.chunkSizeBytes} and replication ${params.replication}`);
    }
    return params;
  }

  // ---- the log ----

  /** Applies an op, waits until it is on disk, then acts on its consequences. */
  private async commit(op: Op): Promise<void> {
    if (this.ha) {
      const writer = this.ha.writerOrRefuse();
      const freed = this.state.apply(op);
      const done = writer.append(op);
      this.state.lastOp = op.q!;
      await done;
      this.dropFreed(freed);
      return;
    }
    const freed = this.state.apply(op);
    await this.oplog.append(op);
    this.state.lastOp = Math.max(this.state.lastOp, op.q!);
    for (const h of freed) {
      this.leases.revoke(h);
      this.registry.dropChunk(h);
    }
    this.maybeCheckpoint();
  }

  private dropFreed(freed: Iterable<Handle>): void {
    for (const h of freed) {
      this.leases.revoke(h);
      this.registry.dropChunk(h);
    }
    this.maybeCheckpoint();
  }

  /** Whether this master acts as the leader: always without HA. */
  get leads(): boolean {
    return !this.ha || this.ha.leading();
  }

  private get registrationSettleMs(): number {
    return Math.max(this.cfg.deadAfterMs, 3 * this.cfg.heartbeatMs);
  }

  private lastRecovery: ReturnType<typeof recover> | null = null;

  /** Loads the newest local checkpoint and the local log after it (in HA mode, only committed changes are logged locally). */
  private async recoverLocal(params: ClusterParams): Promise<void> {
    // HA: the local log is a copy (etcd holds every change after this master's newest checkpoint, or a peer's
    // checkpoint does): damage in it is moved aside and what follows comes from etcd again.
    const rec = recover(this.cfg.dataDir, params, { recoverDamage: this.cfg.recoverLog || !!this.cfg.ha });
    if (rec.recovered) {
      if (this.cfg.ha) this.log.warn(`the local copy of the operation log was damaged; ${rec.recovered}; the changes after it come from etcd`);
      else this.log.warn(`--recover: the operation log was damaged; ${rec.recovered}. Changes logged after the damage are lost.`);
    }
    this.lastRecovery = rec;
    this.state = rec.state;
    this.checkpointedOp = rec.checkpointLastOp;
    this.nextHandle = this.state.handleLimit;
    await this.oplog?.close();
    this.oplog = new OpLog(this.cfg.dataDir, undefined, !this.cfg.ha);
    await this.oplog.openSeq(rec.lastLogSeq, rec.lastLogBytes, rec.state.lastOp + 1);
  }

  /** What the HA node needs from this master. */
  private haHost() {
    return {
      lastOp: () => this.state.lastOp,
      checkpointedOp: () => this.checkpointedOp,
      apply: (ops: Op[]) => {
        for (const op of ops) {
          const freed = this.state.apply(op);
          this.state.lastOp = op.q!;
          for (const h of freed) {
            this.leases.revoke(h);
            this.registry.dropChunk(h);
          }
          this.logLocally(op);
        }
        this.maybeCheckpoint();
      },
      lead: (writer: ReplicatedLogWriter) => {
        writer.onCommit = (ops, ms) => {
          for (const op of ops) this.logLocally(op);
          this.logCommitted?.(ops.length, ms);
        };
        // Handles below the limit may have been used by the previous leader.
        this.nextHandle = this.state.handleLimit;
        this.leases.clear();
        this.unsent.clear();
        this.repairsFrom = Date.now() + this.registrationSettleMs;
        this.repairs.changed();
      },
      fetchCheckpoint: async (peerAddr: string) => {
        const peer = await connect(peerAddr, "master", `master-${process.pid}`, { secret: this.cfg.secret, logger: this.log });
        try {
          const lastOp = await fetchCheckpoint(peer, this.cfg.dataDir, this.state.params);
          this.log.info(`installed the checkpoint of ${peerAddr} (through change ${lastOp})`);
        } finally {
          peer.close("checkpoint fetched");
        }
        await this.recoverLocal(this.state.params);
      },
      deposed: async (why: string) => {
        this.leases.clear();
        // Changes applied here may not have committed: rebuild from the local log (committed changes only) and etcd.
        await this.recoverLocal(this.state.params);
        this.log.info(`rebuilt the namespace from the local log (change ${this.state.lastOp}) after losing leadership (${why}); following the leader`);
      },
    };
  }

  /** Appends a committed change to this master's local log, whose checkpoints let etcd's log be pruned. */
  private logLocally(op: Op): void {
    this.oplog.append(op).catch((err) => {
      if (!this.localLogFailed) this.log.error(`local copy of the operation log: ${(err as Error).message} (etcd holds the log; checkpoints stop)`);
      this.localLogFailed = true;
    });
  }

  private localLogFailed = false;
  /** Told of every durable commit of the log: changes carried and time taken (metrics). */
  private logCommitted: ((records: number, ms: number) => void) | null = null;

  /** This master's role, as `gfs cluster` and the status page show it. */
  role(address: string): MasterRole {
    if (!this.ha) return { address, role: "single", epoch: 0, lagMs: 0, appliedOp: this.state.lastOp };
    return { address: this.ha.cfg.address || address, role: this.ha.leading() ? "leader" : "standby", epoch: this.ha.epoch, lagMs: Math.round(this.ha.lagMs()), ...(this.ha.leader ? { leader: this.ha.leader } : {}), appliedOp: this.state.lastOp };
  }

  /** What replies to chunk servers say of this master (absent for a single master). */
  private leadership(): Leadership {
    return this.ha ? { leading: this.ha.leading(), epoch: this.ha.epoch } : {};
  }

  private maybeCheckpoint(): void {
    if (this.checkpointing || this.oplog.bytes < this.cfg.checkpointBytes || this.localLogFailed) return;
    this.checkpointing = true;
    void (async () => {
      try {
        const lastOpBefore = this.oplog.nextOp - 1;
        const seq = await this.oplog.rotate();
        const t0 = performance.now();
        const proc = Bun.spawn([...selfArgv(), "write-checkpoint", "--data", this.cfg.dataDir, "--seq", String(seq)], {
          stdin: "ignore",
          stdout: "ignore",
          stderr: "inherit",
          env: { ...process.env, GFS_CHECKPOINTER: "1" },
        });
        const code = await proc.exited;
        if (code !== 0) throw new Error(`checkpoint writer exited with ${code}`);
        pruneOld(this.cfg.dataDir, seq);
        this.checkpointedOp = Math.max(this.checkpointedOp, lastOpBefore);
        this.log.info(`checkpoint ${seq} written in ${Math.round(performance.now() - t0)} ms`);
      } catch (err) {
        this.log.error(`checkpoint failed: ${(err as Error).message}`);
      } finally {
        this.checkpointing = false;
      }
    })();
  }

  private async allocateHandle(): Promise<Handle> {
    while (this.nextHandle >= this.state.handleLimit) {
      this.reserving ??= this.commit({ o: "handles", n: this.nextHandle + HANDLE_BATCH }).finally(() => (this.reserving = null));
      await this.reserving;
    }
    return this.nextHandle++;
  }

  /** Runs `fn` holding namespace locks (M2) on `paths` (and read locks on their ancestors). */
  private async withPaths<T>(paths: string[], mode: LockMode, fn: () => Promise<T>): Promise<T> {
    const release = await this.nsLocks.acquire(lockPlan(paths.map((p) => normalizePath(p)), mode));
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Runs `fn` with no other holder of `key` running at the same time. */
  private async locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => {});
    this.locks.set(key, tail);
    tail.then(() => {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    });
    return run;
  }

  // ---- requests ----

  private onRequest(type: RequestType, body: any, peer: Peer): unknown {
    if (this.ha) {
      if (MUTATIONS.has(type) && !this.ha.leading()) throw this.ha.notLeader();
      if (READS.has(type) && !this.ha.readable(this.cfg.ha!.maxReadLagMs)) {
        const e = this.ha.notLeader();
        throw new GfsError(ErrorCode.NOT_LEADER, `${e.message}, and this one is ${Math.round(this.ha.lagMs())} ms behind the log (more than --max-read-lag)`, e.leader);
      }
    }
    switch (type) {
      case "mkdir":
        return this.withPaths([body.path], "write", () => this.mkdir(body));
      case "create":
        return this.withPaths([body.path], "write", () => this.create(body));
      case "ls":
        return this.ls(body);
      case "stat":
        return this.stat(body);
      case "mv":
        return this.withPaths([body.src, body.dst], "write", () => this.mv(body));
      case "rm":
        return this.withPaths([body.path], "write", () => this.rm(body));
      case "undelete":
        return this.withPaths([body.path], "write", () => this.undelete(body));
      case "snapshot":
        return this.withPaths([body.src, body.dst], "write", () => this.snapshot(body));
      case "locate":
        return this.locate(body);
      case "lease":
        this.touchUpload(normalizePath(body.path));
        return this.withPaths([body.path], "read", () => this.lease(body));
      case "complete":
        this.touchUpload(normalizePath(body.path));
        return this.complete(body);
      case "appendLease":
        return this.withPaths([body.path], "read", () => this.appendLease(body));
      case "cluster":
        return this.cluster();
      case "events":
        return { events: recentEvents(body.afterSeq) };
      case "checkpoint":
        return checkpointSlice(this.cfg.dataDir, body);
      case "fsck":
        return this.fsck(body);
      case "setrep":
        return this.withPaths([body.path], "write", () => this.setrep(body));
      case "drain":
        return this.drain(body);
      case "rebalance":
        return this.rebalance(body);
      case "register":
        return this.register(body, peer);
      case "heartbeat":
        return this.heartbeat(body, peer);
      case "corrupt":
        return this.corrupt(body, peer);
      default:
        throw new GfsError(ErrorCode.NOT_IMPLEMENTED, `${type} is not served by the master`);
    }
  }

  private async mkdir(b: ReqBody<"mkdir">): Promise<{}> {
    const parts = splitPath(b.path);
    const t = Date.now();
    const full = "/" + parts.join("/");
    if (!b.parents) await this.commit({ o: "mkdir", p: full, t });
    else {
      let path = "";
      for (const name of parts) {
        path += "/" + name;
        const n = this.state.lookup(path);
        if (n && this.state.ns.isDir(n)) continue;
        if (n) throw new GfsError(ErrorCode.NOT_DIR, `${path} is a file`);
        await this.commit({ o: "mkdir", p: path, t });
      }
    }
    if (b.noTrash) await this.commit({ o: "notrash", p: full, v: true });
    return {};
  }

  /** Whether a removal of `path` skips the trash: it or a directory above it was made with --no-trash. */
  private inNoTrashDir(path: string): boolean {
    const ns = this.state.ns;
    for (let id = this.state.lookup(path); id; id = id === ROOT ? 0 : ns.parentOf(id)) if (ns.isDir(id) && ns.noTrash(id)) return true;
    return false;
  }

  private async create(b: ReqBody<"create">): Promise<{}> {
    const path = normalizePath(b.path);
    const r = b.replication ?? this.inheritedReplication(normalizePath(b.policyOf ?? path));
    if (!Number.isInteger(r) || r < 1 || r > MAX_REPLICATION) throw new GfsError(ErrorCode.INVALID_ARGUMENT, `replication must be 1..${MAX_REPLICATION}, got ${r}`);
    if (b.parents) {
      const parent = path.slice(0, path.lastIndexOf("/")) || "/";
      if (parent !== "/") await this.mkdir({ path: parent, parents: true });
    }
    await this.commit({ o: "create", p: path, r, t: Date.now() });
    this.touchUpload(path);
    return {};
  }

  /** The replication a new file at `path` gets: its nearest ancestor's setrep, else the cluster's. */
  private inheritedReplication(path: string): number {
    let dir = path.slice(0, path.lastIndexOf("/")) || "/";
    for (;;) {
      const id = this.state.lookup(dir);
      const r = id && this.state.ns.isDir(id) ? this.state.ns.replicationOf(id) : 0;
      if (r > 0) return r;
      if (dir === "/") return this.state.params.replication;
      dir = dir.slice(0, dir.lastIndexOf("/")) || "/";
    }
  }

  /**
   * Draining (gfs drain): the server keeps serving reads, takes no new
   * replicas, and its replicas stop counting, so re-replication copies them
   * elsewhere. Held in memory: after a master restart, drain again.
   */
  private drain(b: ReqBody<"drain">): RepBody<"drain"> {
    const s = [...this.registry.servers.values()].find((x) => x.id === b.server || x.addr === b.server);
    if (!s) throw new GfsError(ErrorCode.NOT_FOUND, `no chunk server ${b.server} (give its address or id, as gfs cluster shows them)`);
    const draining = !b.cancel;
    if (s.draining !== draining) {
      s.draining = draining;
      this.repairs.changed();
      this.log.info(`chunk server ${s.addr} (${s.id}): ${draining ? "draining: its replicas are copied elsewhere" : "drain cancelled"}`);
    }
    return { id: s.id, addr: s.addr, draining, chunksDependingOnIt: this.repairs.dependingOn(s.id) };
  }

  /** Rebalancing (M12): plan, start, or report. */
  private rebalance(b: ReqBody<"rebalance">): RepBody<"rebalance"> {
    if (!(b.thresholdPct >= 1 && b.thresholdPct <= 100)) throw new GfsError(ErrorCode.INVALID_ARGUMENT, `threshold must be 1..100 percentage points, got ${b.thresholdPct}`);
    if (!b.dryRun && !b.status && !this.repairs.rebalanceStatus().active) this.repairs.startRebalance(b.thresholdPct);
    const addr = (id: string) => this.registry.ref(id)?.addr ?? id;
    const plan = b.status ? [] : this.repairs.previewRebalance(b.thresholdPct, 1000).map((m) => ({ chunk: handleName(m.handle), from: addr(m.from), to: addr(m.to) }));
    return { ...this.repairs.rebalanceStatus(), plan };
  }

  /** setrep (M14): a file's target, or a directory's for everything below it; re-replication or surplus removal follows. */
  private async setrep(b: ReqBody<"setrep">): Promise<RepBody<"setrep">> {
    const path = normalizePath(b.path);
    if (!Number.isInteger(b.replication) || b.replication < 1 || b.replication > MAX_REPLICATION) {
      throw new GfsError(ErrorCode.INVALID_ARGUMENT, `replication must be 1..${MAX_REPLICATION}, got ${b.replication}`);
    }
    const id = this.state.lookup(path);
    if (!id) throw new GfsError(ErrorCode.NOT_FOUND, `${path}: no such file or directory`);
    let files = 0;
    if (this.state.ns.isFile(id)) files = 1;
    else for (const [, n] of this.state.ns.walk(id)) if (this.state.ns.isFile(n)) files++;
    await this.commit({ o: "rep", p: path, r: b.replication });
    this.repairs.changed();
    this.log.info(`setrep ${b.replication} ${path}: ${files} files`);
    return { files };
  }

  private entry(name: string, id: number): DirEntry {
    const ns = this.state.ns;
    if (ns.isDir(id)) return { name, type: "dir", size: 0, mtimeMs: ns.mtimeOf(id), replication: ns.replicationOf(id), chunks: 0 };
    return { name, type: "file", size: this.state.fileSize(id), mtimeMs: ns.mtimeOf(id), replication: ns.replicationOf(id), chunks: ns.chunkCount(id) };
  }

  private ls(b: ReqBody<"ls">): RepBody<"ls"> {
    const path = normalizePath(b.path);
    const n = this.state.lookup(path);
    if (!n) throw new GfsError(ErrorCode.NOT_FOUND, `${path}: no such file or directory`);
    const ns = this.state.ns;
    if (ns.isFile(n)) return { entries: [this.entry(path.slice(path.lastIndexOf("/") + 1), n)], isFile: true };
    const entries = [...ns.children(n)].map((child) => this.entry(ns.nameOf(child), child));
    entries.sort((a, c) => (a.name < c.name ? -1 : a.name > c.name ? 1 : 0));
    return { entries, isFile: false };
  }

  private chunkLocation(file: number, index: number): ChunkLocation {
    const handle = this.state.ns.chunkAt(file, index);
    const chunks = this.state.chunks;
    const replicas = this.registry.replicaRefs(handle);
    if (replicas.length > 0 && replicas.length < this.state.ns.replicationOf(file)) this.repairs.want(handle);
    return { index, handle, version: chunks.versionOf(handle), size: chunks.sizeOf(handle), replicas };
  }

  private stat(b: ReqBody<"stat">): StatReply {
    const path = normalizePath(b.path);
    const n = this.state.lookup(path);
    if (!n) throw new GfsError(ErrorCode.NOT_FOUND, `${path}: no such file or directory`);
    const name = path === "/" ? "/" : path.slice(path.lastIndexOf("/") + 1);
    const chunkList: ChunkLocation[] = [];
    const now = Date.now();
    if (this.state.ns.isFile(n)) {
      for (let i = 0; i < this.state.ns.chunkCount(n); i++) {
        const loc = this.chunkLocation(n, i);
        const lease = this.leases.current(loc.handle, now);
        if (lease) loc.primary = this.registry.ref(lease.primary)?.addr;
        chunkList.push(loc);
      }
    }
    return { ...this.entry(name, n), path, chunkSize: this.state.params.chunkSizeBytes, chunkList };
  }

  private async mv(b: ReqBody<"mv">): Promise<{}> {
    const src = normalizePath(b.src);
    let dst = normalizePath(b.dst);
    if (src === "/") throw new GfsError(ErrorCode.INVALID_ARGUMENT, "cannot move the root");
    const node = this.state.lookup(src);
    if (!node) throw new GfsError(ErrorCode.NOT_FOUND, `${src}: no such file or directory`);
    const target = this.state.lookup(dst);
    if (target && this.state.ns.isDir(target)) {
      dst = joinPath(dst, src.slice(src.lastIndexOf("/") + 1));
    }
    if (dst === src) return {};
    const ns = this.state.ns;
    if (ns.isDir(node) && (dst + "/").startsWith(src + "/")) throw new GfsError(ErrorCode.INVALID_ARGUMENT, `cannot move ${src} into itself`);
    const existing = this.state.lookup(dst);
    if (existing) {
      if (ns.isDir(existing)) throw new GfsError(ErrorCode.EXISTS, `${dst} is an existing directory`);
      if (ns.isDir(node)) throw new GfsError(ErrorCode.EXISTS, `${dst} exists`);
      if (!b.overwrite) throw new GfsError(ErrorCode.EXISTS, `${dst} already exists`);
    }
    this.state.parentOf(dst); // parent must exist and be a directory
    await this.commit({ o: "mv", s: src, d: dst, t: Date.now() });
    return {};
  }

  /** Moves to the trash (M13), or erases at once what is in the trash or an upload, or everything without a trash TTL. */
  private async rm(b: ReqBody<"rm">): Promise<RepBody<"rm">> {
    const path = normalizePath(b.path);
    if (path === "/") throw new GfsError(ErrorCode.INVALID_ARGUMENT, "cannot remove the root");
    const n = this.state.lookup(path);
    if (!n) throw new GfsError(ErrorCode.NOT_FOUND, `${path}: no such file or directory`);
    if (this.state.ns.isDir(n) && this.state.ns.hasChildren(n) && !b.recursive) throw new GfsError(ErrorCode.NOT_EMPTY, `${path} is a non-empty directory (use -r)`);
    const t = Date.now();
    if (reclaimedAtOnce(path, this.trashTtlMs) || path === UPLOAD_DIR || this.inNoTrashDir(path)) {
      await this.commit({ o: "rm", p: path, t });
      this.uploadActivity.delete(path);
      return {};
    }
    this.trashSeq = t === this.lastTrashMs ? this.trashSeq + 1 : 0;
    this.lastTrashMs = t;
    const trashed = trashPathFor(path, t, this.trashSeq);
    await this.mkdir({ path: trashed.slice(0, trashed.lastIndexOf("/")), parents: true });
    await this.commit({ o: "mv", s: path, d: trashed, t });
    return { trashedAs: trashed };
  }

  private lastTrashMs = 0;

  private get trashTtlMs(): number {
    return this.cfg.trashTtlMs ?? 86_400_000;
  }

  /** The newest copy of `path` in the trash goes back where it was. */
  private async undelete(b: ReqBody<"undelete">): Promise<RepBody<"undelete">> {
    const path = normalizePath(b.path);
    if (path === "/" || within(path, TRASH_DIR)) throw new GfsError(ErrorCode.INVALID_ARGUMENT, `${path}: give the path a file had before it was removed`);
    if (this.state.lookup(path)) throw new GfsError(ErrorCode.EXISTS, `${path} exists; move it away first`);
    const trash = this.state.lookup(TRASH_DIR);
    const ns = this.state.ns;
    const names = trash && ns.isDir(trash) ? [...ns.children(trash)].map((c) => ns.nameOf(c)) : [];
    for (const stamp of newestFirst(names)) {
      const from = `${TRASH_DIR}/${stamp}${path}`;
      if (!this.state.lookup(from)) continue;
      const parent = path.slice(0, path.lastIndexOf("/")) || "/";
      if (parent !== "/") await this.mkdir({ path: parent, parents: true });
      await this.commit({ o: "mv", s: from, d: path, t: Date.now() });
      this.log.info(`undelete ${path} from ${from}`);
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
  private async sweep(): Promise<void> {
    const now = Date.now();
    const ns = this.state.ns;
    const trash = this.state.lookup(TRASH_DIR);
    if (trash && ns.isDir(trash)) {
      const names = [...ns.children(trash)].map((c) => ns.nameOf(c));
      for (const name of expiredEntries(names, now, this.trashTtlMs, SWEEP_LIMIT)) {
        const p = `${TRASH_DIR}/${name}`;
        await this.withPaths([p], "write", async () => {
          if (this.state.lookup(p)) await this.commit({ o: "rm", p, t: Date.now() });
        });
        this.log.info(`trash: ${p} erased (older than the trash TTL)`);
      }
    }
    const uploads = this.state.lookup(UPLOAD_DIR);
    if (uploads && ns.isDir(uploads)) {
      const files = [...ns.children(uploads)].map((c) => `${UPLOAD_DIR}/${ns.nameOf(c)}`);
      const idle = abandonedUploads(files.map((p) => ({ path: p, lastActiveMs: this.uploadActivity.get(p) ?? this.startedAtMs })), now, this.cfg.uploadTimeoutMs ?? 3_600_000);
      for (const p of idle.slice(0, SWEEP_LIMIT)) {
        const idleMs = now - (this.uploadActivity.get(p) ?? this.startedAtMs);
        await this.withPaths([p], "write", async () => {
          if (this.state.lookup(p)) await this.commit({ o: "rm", p, t: Date.now() });
        });
        this.uploadActivity.delete(p);
        this.log.info(`upload ${p} reclaimed: untouched for ${Math.round(idleMs / 1000)} s (an interrupted put)`);
      }
    }
  }

  /** A put's temporary file is in use. */
  private touchUpload(path: string): void {
    if (within(path, UPLOAD_DIR)) this.uploadActivity.set(path, Date.now());
  }

  private locate(b: ReqBody<"locate">): RepBody<"locate"> {
    const path = normalizePath(b.path);
    const f = this.state.getFile(path);
    const count = this.state.ns.chunkCount(f);
    const from = Math.max(0, Math.floor(b.index));
    const to = Math.min(count, from + Math.max(1, Math.min(b.count, 1024)) + LOCATE_PREFETCH);
    const chunks: ChunkLocation[] = [];
    for (let i = from; i < to; i++) chunks.push(this.chunkLocation(f, i));
    return { chunkSize: this.state.params.chunkSizeBytes, size: this.state.fileSize(f), chunkCount: count, chunks };
  }

  private async complete(b: ReqBody<"complete">): Promise<{}> {
    const path = normalizePath(b.path);
    const count = this.state.ns.chunkCount(this.state.getFile(path));
    if (!Number.isSafeInteger(b.size) || b.size < 0 || b.size > count * this.state.params.chunkSizeBytes) {
      throw new GfsError(ErrorCode.INVALID_ARGUMENT, `size ${b.size} does not fit ${path}'s ${count} chunks`);
    }
    await this.commit({ o: "size", p: path, s: b.size, t: Date.now() });
    return {};
  }

  private fsck(b: ReqBody<"fsck">): RepBody<"fsck"> {
    const path = normalizePath(b.path);
    const top = this.state.lookup(path);
    if (!top) throw new GfsError(ErrorCode.NOT_FOUND, `${path}: no such file or directory`);
    const ns = this.state.ns;
    let directories = 0;
    const self = this;
    const files = function* (): Generator<FsckFile> {
      const nodes: Iterable<[string, number]> = ns.isFile(top) ? [[path, top]] : ns.walk(top, path === "/" ? "" : path);
      if (ns.isDir(top)) directories++;
      for (const [p, id] of nodes) {
        if (ns.isDir(id)) directories++;
        else yield { path: p, target: ns.replicationOf(id), sizeBytes: self.state.fileSize(id), chunks: ns.chunks(id) };
      }
    };
    const servers = [...this.registry.servers.values()];
    const report = audit(files(), 0, {
      racksOf: (h) => this.registry.replicaRefs(h).filter((r) => !this.registry.servers.get(r.id)?.draining).map((r) => r.rack),
      leaving: (h) => this.registry.replicaRefs(h).filter((r) => this.registry.servers.get(r.id)?.draining).length,
      damaged: (h) => this.damagedOnly.has(h),
      staleReplicas: (h) => servers.reduce((n, s) => n + (s.discard.has(h) ? 1 : 0), 0),
      repairing: (h) => this.repairs.isCloning(h),
      racks: new Set(this.registry.candidates().map((c) => c.rack)).size,
    });
    report.directories = directories;
    return report;
  }

  /** The whole namespace's fsck report, at most 5 s old (the status page and /metrics read it). */
  private health(): FsckReport {
    const now = Date.now();
    if (!this.fsckCache || now - this.fsckCache.atMs > 5_000) this.fsckCache = { atMs: now, report: this.fsck({ path: "/" }) };
    return this.fsckCache.report;
  }

  /** What the status page shows (/status.json): the cluster, its health, its servers, repairs, events and rates. */
  statusSnapshot(listenAddr: string): unknown {
    const now = Date.now();
    const { problems: _, ...health } = this.health();
    return {
      timeMs: now,
      master: { ...this.role(listenAddr), uptimeMs: now - this.startedAtMs },
      chunkSize: this.state.params.chunkSizeBytes,
      replication: this.state.params.replication,
      health,
      chunkservers: this.registry.status(now),
      repairs: { cloning: this.repairs.cloning, ...this.repairs.done },
      events: recentEvents().slice(-50),
      history: this.history.history,
    };
  }

  private cluster(): RepBody<"cluster"> {
    return { chunkSize: this.state.params.chunkSizeBytes, replication: this.state.params.replication, servers: this.registry.status(Date.now()), master: this.role(`${advertisedHost(this.cfg.listenHost)}:${this.port}`) };
  }

  // ---- leases and chunk creation (M9, M8) ----

  private async lease(b: ReqBody<"lease">): Promise<LeaseGrant> {
    const path = normalizePath(b.path);
    const count = this.state.ns.chunkCount(this.state.getFile(path));
    if (!Number.isInteger(b.index) || b.index < 0 || b.index > count) {
      throw new GfsError(ErrorCode.INVALID_ARGUMENT, `chunk index ${b.index} is past the end of ${path} (${count} chunks)`);
    }
    if (b.index === count) {
      const created = await this.locked(`file:${path}`, () => this.addChunk(path, b.index));
      if (created) return created;
    }
    const handle = await this.locked(`file:${path}`, () => this.ownChunk(path, b.index));
    return this.locked(`chunk:${handle}`, () => this.grantLease(handle, b.index, b.renew === true));
  }

  /**
   * A lease on the file's last chunk for record append (D3). An empty file
   * gets its first chunk; `full` naming the last chunk (its primary padded
   * it) adds the next one. Concurrent appenders that all found the chunk full
   * get the one new chunk.
   */
  private async appendLease(b: ReqBody<"appendLease">): Promise<LeaseGrant> {
    const path = normalizePath(b.path);
    const count = this.state.ns.chunkCount(this.state.getFile(path));
    if (count === 0 || b.full === count - 1) {
      if (count > 0) this.state.chunks.raiseSize(this.state.ns.chunkAt(this.state.getFile(path), count - 1), this.state.params.chunkSizeBytes);
      const created = await this.locked(`file:${path}`, () => this.addChunk(path, count));
      if (created) return created;
    }
    const last = this.state.ns.chunkCount(this.state.getFile(path)) - 1;
    const handle = await this.locked(`file:${path}`, () => this.ownChunk(path, last));
    return this.locked(`chunk:${handle}`, () => this.grantLease(handle, last, b.renew === true));
  }

  /**
   * The handle of chunk `index` of `path` that this file alone refers to. A
   * chunk shared with a snapshot is first copied (M15): every server holding
   * a current replica copies it locally to a new handle (no network copy),
   * and the file takes the copy.
   */
  private async ownChunk(path: string, index: number): Promise<Handle> {
    const f = this.state.getFile(path);
    const shared = this.state.ns.chunkAt(f, index);
    const info = this.state.chunks.get(shared);
    if (!info || info.refs <= 1) return shared;
    const holders = this.registry.replicaRefs(shared);
    if (holders.length === 0) throw new GfsError(ErrorCode.NO_REPLICA, `no live replica of chunk ${handleName(shared)} to copy`);
    const copy = await this.allocateHandle();
    this.creating.add(copy);
    let copied: ReplicaRef[];
    try {
      const results = await Promise.allSettled(holders.map((h) => this.callServer(h.id, "copyChunk", { from: shared, to: copy, version: info.version })));
      copied = holders.filter((_, i) => results[i]!.status === "fulfilled");
      if (copied.length === 0) throw new GfsError(ErrorCode.NO_REPLICA, `no server could copy chunk ${handleName(shared)}`);
      await this.commit({ o: "cow", p: path, i: index, h: copy, v: info.version });
    } finally {
      this.creating.delete(copy);
    }
    for (const h of copied) this.registry.addLocation(copy, h.id);
    this.unsent.add(copy); // a new handle: no replica was ever sent a version of it past the copy's
    this.log.info(`chunk ${handleName(shared)} of ${path}[${index}] is shared: copied to chunk ${handleName(copy)} on ${copied.map((h) => h.addr).join(", ")}`);
    return copy;
  }

  /**
   * Snapshot (M15): ends the leases on the source's chunks (so the next write
   * to any of them comes to the master and is copied first), then logs and
   * duplicates the metadata; the chunks themselves are shared.
   */
  private async snapshot(b: ReqBody<"snapshot">): Promise<RepBody<"snapshot">> {
    const src = normalizePath(b.src);
    const dst = normalizePath(b.dst);
    const node = this.state.lookup(src);
    if (!node) throw new GfsError(ErrorCode.NOT_FOUND, `${src}: no such file or directory`);
    if (this.state.lookup(dst)) throw new GfsError(ErrorCode.EXISTS, `${dst} already exists`);
    if ((dst + "/").startsWith(src + "/")) throw new GfsError(ErrorCode.INVALID_ARGUMENT, `cannot snapshot ${src} into itself`);
    this.state.parentOf(dst); // the parent must exist
    const handles: Handle[] = [];
    let files = 0;
    const collect = (id: number) => {
      if (this.state.ns.isFile(id)) {
        files++;
        handles.push(...this.state.ns.chunks(id));
      } else for (const c of this.state.ns.children(id)) collect(c);
    };
    collect(node);
    const now = Date.now();
    const leased = handles.filter((h) => this.leases.current(h, now));
    await Promise.all(leased.map((h) => this.locked(`chunk:${h}`, () => this.revokeLease(h))));
    await this.commit({ o: "snap", s: src, d: dst, t: Date.now() });
    this.log.info(`snapshot of ${src} at ${dst}: ${files} files, ${handles.length} chunks shared, ${leased.length} leases revoked`);
    return { files, chunks: handles.length, revokedLeases: leased.length };
  }

  /** Ends a lease: the primary is told; if it cannot be, the lease is waited out. */
  private async revokeLease(handle: Handle): Promise<void> {
    const l = this.leases.current(handle, Date.now());
    if (!l) return;
    try {
      await this.callServer(l.primary, "revokeLease", { handle });
    } catch {
      const waitMs = l.expiresAtMs - Date.now();
      if (waitMs > 0) {
        this.log.info(`chunk ${handleName(handle)}: primary unreachable; waiting ${waitMs} ms for its lease to run out`);
        await new Promise((r) => setTimeout(r, waitMs));
      }
    }
    this.leases.revoke(handle);
  }

  /** Creates chunk `index` of `path` unless another request did; returns its first lease. */
  private async addChunk(path: string, index: number): Promise<LeaseGrant | null> {
    const f = this.state.getFile(path);
    if (this.state.ns.chunkCount(f) !== index) return null;
    const replication = this.state.ns.replicationOf(f);
    const handle = await this.allocateHandle();
    this.creating.add(handle);
    try {
      return await this.createChunkOn(path, index, handle, replication);
    } finally {
      this.creating.delete(handle);
    }
  }

  private async createChunkOn(path: string, index: number, handle: Handle, replication: number): Promise<LeaseGrant> {
    const tried = new Set<string>();
    const created: string[] = [];
    while (created.length < replication) {
      const picks = choosePlacement(this.registry.candidates(), replication - created.length, new Set([...tried, ...created]), this.state.params.chunkSizeBytes);
      if (picks.length === 0) break;
      const results = await Promise.allSettled(picks.map((id) => this.callServer(id, "createChunk", { handle, version: 1 })));
      results.forEach((r, i) => {
        const id = picks[i]!;
        tried.add(id);
        if (r.status === "fulfilled") created.push(id);
        else this.log.warn(`chunk ${handleName(handle)}: create on ${this.registry.ref(id)?.addr ?? id} failed: ${(r.reason as Error).message}`);
      });
    }
    if (created.length === 0) throw new GfsError(ErrorCode.NO_SERVERS, "no chunk server is available to hold a new chunk");
    if (created.length < replication) this.repairs.changed();
    await this.commit({ o: "chunk", p: path, h: handle, v: 1 });
    for (const id of created) {
      this.registry.addLocation(handle, id);
      const s = this.registry.servers.get(id);
      if (s) s.recentCreations++;
    }
    // Created in this run: no earlier run can have sent any version of it.
    this.unsent.add(handle);
    this.log.debug(`chunk ${handleName(handle)} created for ${path}[${index}] on ${created.length} servers`);
    const grant = await this.locked(`chunk:${handle}`, () => this.grantLease(handle, index, false));
    return created.length < replication ? { ...grant, createdShort: replication } : grant;
  }

  /**
   * Returns the chunk's live lease, or grants a new one. A new lease raises
   * the version on the live replicas first, then in the log (versions.ts). A
   * replica that does not confirm the new version leaves the lease; because it
   * may still apply the change late, the others move on to one more version
   * (another round) before anyone gets the lease, so it is stale by
   * construction, across master restarts too (M10). `renew` (a client's write
   * failed) replaces the lease only if one of its servers is gone: many
   * clients fail together when a replica dies, and each new lease would make
   * the others' writes stale.
   */
  private async grantLease(handle: Handle, index: number, renew: boolean): Promise<LeaseGrant> {
    const meta = this.state.chunks.get(handle);
    if (!meta) throw new GfsError(ErrorCode.NOT_FOUND, `chunk ${handleName(handle)} no longer exists`);
    const now = Date.now();
    const cur = this.leases.current(handle, now);
    const liveIds = new Set(this.registry.replicaRefs(handle).map((r) => r.id));
    if (cur && this.leases.intact(handle, meta.version, liveIds, now) && (!renew || liveIds.size === cur.replicas.length)) {
      return this.grantReply(handle, index, cur);
    }
    const why = !cur ? "no live lease" : renew ? "a client's write failed and a server of the lease is gone" : "the lease no longer matches the live replicas";
    this.leases.revoke(handle);
    const { version, live } = await this.raiseVersion(handle);
    this.unchangedSince.delete(handle); // mutations may follow at this version
    const primary = live[0]!;
    const secondaries = live.slice(1);
    const token = signLease(this.tokenKey, { handle, version, primary: primary.id, secondaries: secondaries.map((r) => r.id) });
    await this.callServer(primary.id, "setVersion", { handle, version, lease: { leaseMs: this.cfg.leaseMs, secondaries, token } });
    const lease = this.leases.grant(handle, primary.id, version, Date.now(), live.map((r) => r.id));
    this.log.debug(`chunk ${handleName(handle)}: lease to ${primary.addr} at version ${version} (${why})`);
    return this.grantReply(handle, index, lease);
  }

  /**
   * Moves a chunk's live replicas to a new version, first on the replicas and
   * then in the log (versions.ts); replicas that do not confirm leave, and
   * the rest move one further, until all that are left confirmed. Afterwards
   * no mutation ordered under an older version can complete anywhere.
   * Callers hold the chunk's lock.
   */
  private async raiseVersion(handle: Handle): Promise<{ version: number; live: ReplicaRef[] }> {
    let live = this.registry.replicaRefs(handle);
    for (;;) {
      if (live.length === 0) throw new GfsError(ErrorCode.NO_REPLICA, `no live replica of chunk ${handleName(handle)}`);
      const before = this.state.chunks.versionOf(handle);
      const { version, logCeiling } = nextVersion(before, this.state.chunks.ceilingOf(handle), this.unsent.has(handle));
      // Logged before any replica may hold it, so a restart knows it as current and never reuses it.
      if (logCeiling) await this.commit({ o: "vmax", h: handle, c: version });
      this.unsent.delete(handle);
      const holders = live;
      const results = await Promise.allSettled(holders.map((h) => this.callServer(h.id, "setVersion", { handle, version })));
      live = holders.filter((_, i) => results[i]!.status === "fulfilled");
      if (live.length === 0) {
        // A replica may have taken the version and lost only its answer: the
        // version is logged, so that one counts as current when it returns.
        // Those still at the old version hold the same bytes (a version moves
        // none): they leave the list and are adopted when they report.
        if (this.state.chunks.has(handle)) {
          if (!this.unchangedSince.has(handle)) this.unchangedSince.set(handle, before);
          await this.commit({ o: "ver", h: handle, v: version });
          this.unsent.add(handle);
          for (const h of holders) this.registry.removeLocation(handle, h.id);
          this.repairs.changed();
        }
        throw new GfsError(ErrorCode.NO_REPLICA, `no replica of chunk ${handleName(handle)} accepted version ${version}`);
      }
      if (!this.state.chunks.has(handle)) throw new GfsError(ErrorCode.NOT_FOUND, `chunk ${handleName(handle)} no longer exists`);
      await this.commit({ o: "ver", h: handle, v: version });
      this.unsent.add(handle);
      if (live.length === holders.length) return { version, live };
      results.forEach((r, i) => {
        if (r.status !== "rejected") return;
        this.log.warn(`chunk ${handleName(handle)}: ${holders[i]!.addr} did not confirm version ${version} (${(r.reason as Error).message}); its replica leaves`);
        this.registry.removeLocation(handle, holders[i]!.id);
      });
      this.repairs.changed();
    }
  }

  /**
   * Before a clone: a new version on the live replicas, so the bytes copied
   * are final until the next lease (which raises it again and makes the copy
   * stale). Refused while a lease is live.
   */
  private freezeForClone(handle: Handle): Promise<number> {
    return this.locked(`chunk:${handle}`, async () => {
      if (this.leases.current(handle, Date.now())) throw new GfsError(ErrorCode.STALE, `chunk ${handleName(handle)} is being written`);
      const before = this.state.chunks.versionOf(handle);
      if (!this.unchangedSince.has(handle)) this.unchangedSince.set(handle, before);
      return (await this.raiseVersion(handle)).version;
    });
  }

  /** What to do with a replica behind the master's version that server `s` reports (versions.ts, staleFate). */
  private staleReplica(r: { handle: Handle; version: number; size: number }, s: ServerRecord): "adopt" | "keep" | "discard" {
    const meta = this.state.chunks.get(r.handle);
    if (!meta) return "discard";
    // The cluster's replication stands for the chunk's target (finding its files would take a scan): a
    // chunk under a lower setrep may take one copy too many (trimmed later), one under a higher one is copied.
    const fate = staleFate(this.registry.replicaRefs(r.handle).length, this.state.params.replication, r.version, this.unchangedSince.get(r.handle), r.size, meta.sizeBytes);
    if (fate === "adopt") void this.adopt(r.handle, s.id, r.version);
    return fate;
  }

  /**
   * The chunk has fewer live current replicas than the cluster's replication,
   * and `serverId` holds one at or above its last lease's version with every
   * acknowledged byte (versions.ts, staleFate): it is moved to the current
   * version and listed again.
   */
  private async adopt(handle: Handle, serverId: string, replicaVersion: number): Promise<void> {
    if (this.adopting.has(handle)) return;
    this.adopting.add(handle);
    try {
      await this.locked(`chunk:${handle}`, async () => {
        const meta = this.state.chunks.get(handle);
        const s = this.registry.servers.get(serverId);
        const live = this.registry.replicaRefs(handle);
        const since = this.unchangedSince.get(handle);
        // Checked again under the chunk's lock: a lease since (mutations) or copies made meanwhile end it.
        if (!meta || !s?.alive || since === undefined || replicaVersion < since || live.length >= this.state.params.replication || live.some((r) => r.id === serverId)) return;
        await this.callServer(serverId, "setVersion", { handle, version: meta.version });
        this.registry.addLocation(handle, serverId);
        this.damagedOnly.delete(handle);
        this.repairs.changed();
        this.log.warn(`chunk ${handleName(handle)}: ${live.length} live current replica${live.length === 1 ? "" : "s"}; adopted the one on ${s.addr} (version ${replicaVersion}, unchanged since version ${since}; now ${meta.version})`);
      });
    } catch (err) {
      this.log.warn(`chunk ${handleName(handle)}: adopting the replica on ${this.registry.servers.get(serverId)?.addr ?? serverId} failed: ${(err as Error).message}`);
    } finally {
      this.adopting.delete(handle);
    }
  }

  /** The lease as clients see it: primary and secondaries exactly as granted. */
  private grantReply(handle: Handle, index: number, lease: LeaseRecord): LeaseGrant {
    const refs = lease.replicas.map((id) => this.registry.ref(id)!);
    const primary = refs.find((r) => r.id === lease.primary)!;
    return { handle, version: lease.version, index, primary, secondaries: refs.filter((r) => r.id !== lease.primary), leaseMs: this.cfg.leaseMs, chunkSize: this.state.params.chunkSizeBytes };
  }

  private callServer<T extends "createChunk" | "setVersion" | "revokeLease" | "copyChunk" | "cloneChunk">(id: string, type: T, body: ReqBody<T>, timeoutMs = CHUNKSERVER_CALL_MS): Promise<RepBody<T>> {
    const peer = this.peersById.get(id);
    if (!peer || peer.closed) return Promise.reject(new GfsError(ErrorCode.UNAVAILABLE, `chunk server ${id} is not connected`));
    return peer.call(type, body, timeoutMs);
  }

  // ---- chunk servers (C3, M4, M10) ----

  private async register(b: ReqBody<"register">, peer: Peer): Promise<RepBody<"register">> {
    if (peer.remoteRole !== "chunkserver") throw new GfsError(ErrorCode.PROTOCOL, "only chunk servers register");
    if (typeof b.id !== "string" || typeof b.addr !== "string" || !Array.isArray(b.chunks)) throw new GfsError(ErrorCode.INVALID_ARGUMENT, "malformed registration");
    const old = this.peersById.get(b.id);
    if (old && old !== peer) old.close("replaced by a new registration");
    const now = Date.now();
    const s = this.registry.upsert(b.id, b.addr, b.rack || "default", now);
    s.capacityBytes = b.capacityBytes;
    s.usedBytes = b.usedBytes;
    peer.tag = s;
    this.peersById.set(b.id, peer);
    const discard: Handle[] = [...s.discard];
    s.discard.clear();
    let stale = 0;
    let unknown = 0;
    let unexplained = 0;
    for (const r of b.chunks) {
      const meta = this.state.chunks.get(r.handle);
      if (!meta) {
        unknown++;
        discard.push(r.handle);
        continue;
      }
      const verdict = judgeReplica(meta.version, r.version, this.state.chunks.ceilingOf(r.handle));
      if (!this.leads) {
        // A standby only learns where current replicas are; what to delete or adopt is the leader's call.
        if (verdict === "current") {
          this.state.chunks.raiseSize(r.handle, r.size);
          this.registry.addLocation(r.handle, s.id);
        }
        continue;
      }
      if (verdict === "stale") {
        stale++;
        if (this.staleReplica(r, s) === "discard") discard.push(r.handle);
        continue;
      }
      if (verdict === "unexplained") {
        // Never adopted: the replicas the master has stay; this one stays on disk for inspection.
        unexplained++;
        this.log.warn(`chunk ${handleName(r.handle)}: ${b.addr} reports version ${r.version}, the master has ${meta.version} and sent at most ${this.state.chunks.ceilingOf(r.handle)}; not listed (damaged or forged metadata)`);
        continue;
      }
      this.state.chunks.raiseSize(r.handle, r.size);
      this.registry.addLocation(r.handle, s.id);
    }
    this.repairs.changed();
    this.log.info(`chunk server ${b.addr} (${b.id}, rack ${s.rack}) registered with ${b.chunks.length} chunks${stale ? `, ${stale} stale` : ""}${unknown ? `, ${unknown} unknown` : ""}${unexplained ? `, ${unexplained} with an unexplained version` : ""}`);
    return { chunkSize: this.state.params.chunkSizeBytes, heartbeatMs: this.cfg.heartbeatMs, discard: this.leads ? discard : [], ...(this.cfg.secret ? {} : { tokenKey: this.tokenKey }), ...this.leadership() };
  }

  private heartbeat(b: ReqBody<"heartbeat">, peer: Peer): RepBody<"heartbeat"> {
    const s = peer.tag as ServerRecord | null;
    if (!s) throw new GfsError(ErrorCode.PROTOCOL, "heartbeat before registration");
    const now = Date.now();
    if (!s.alive) {
      // Declared dead while it was only slow: it must register again.
      peer.close("declared dead; register again");
      throw new GfsError(ErrorCode.UNAVAILABLE, "declared dead; register again");
    }
    s.lastHeartbeatMs = now;
    s.heartbeats++;
    if (b.io) this.history.serverCounters(s.id, b.io.read, b.io.written);
    s.usedBytes = b.usedBytes;
    s.capacityBytes = b.capacityBytes;
    for (const r of b.sizes ?? []) {
      if (this.state.chunks.versionOf(r.handle) === r.version) this.state.chunks.raiseSize(r.handle, r.size);
    }
    if (!this.leads) {
      // A standby learns where replicas are from the listings (each heartbeat lists a slice, going round them all), to serve reads.
      for (const r of b.listed ?? []) {
        const version = this.state.chunks.versionOf(r.handle);
        if (version && judgeReplica(version, r.version, this.state.chunks.ceilingOf(r.handle)) === "current") {
          this.state.chunks.raiseSize(r.handle, r.size);
          this.registry.addLocation(r.handle, s.id);
        } else this.registry.removeLocation(r.handle, s.id);
      }
      return { discard: [], extended: [], leaseMs: this.cfg.leaseMs, ...this.leadership() };
    }
    const extended = (b.extend ?? []).filter((h) => this.leases.extend(h, s.id, now));
    const listed = new Map((b.listed ?? []).map((r) => [r.handle, r]));
    for (const h of unwantedReplicas(b.listed ?? [], (x) => this.state.chunks.versionOf(x), this.creating, (x) => this.state.chunks.ceilingOf(x))) {
      // A stale replica that may be the last copy is kept, or adopted.
      if (this.state.chunks.get(h) && this.staleReplica(listed.get(h)!, s) !== "discard") continue;
      this.registry.removeLocation(h, s.id);
      s.discard.add(h);
    }
    const discard = [...s.discard];
    s.discard.clear();
    return { discard, extended, leaseMs: this.cfg.leaseMs, ...this.leadership() };
  }

  private corrupt(b: ReqBody<"corrupt">, peer: Peer): {} {
    const s = peer.tag as ServerRecord | null;
    if (!s) throw new GfsError(ErrorCode.PROTOCOL, "report before registration");
    if (!this.leads) return {};
    this.replicaDamaged(b.handle, s, b.reason, b.writeOnly === true);
    return {};
  }

  /**
   * A replica is damaged (its server said so, or a copy from it found it
   * short): no longer listed, deleted unless it is the last. One whose bytes
   * are intact but that takes no more writes (`writeOnly`: a full disk) stays
   * listed while it is the only one, so what it holds stays readable; its
   * lease ends, and re-replication copies it elsewhere.
   */
  private replicaDamaged(handle: Handle, s: ServerRecord, reason: string, writeOnly = false): void {
    const others = this.registry.replicaRefs(handle).filter((r) => r.id !== s.id).length;
    if (writeOnly && others === 0) {
      this.leases.revoke(handle);
      this.repairs.changed();
      this.log.warn(`chunk ${handleName(handle)}: replica on ${s.addr} takes no more writes (${reason}); kept as the only replica, readable`);
      return;
    }
    this.registry.removeLocation(handle, s.id);
    this.repairs.changed();
    // The last replica is never deleted: a damaged copy may still be all there is.
    if (others > 0) s.discard.add(handle);
    else this.damagedOnly.add(handle);
    this.log.warn(`chunk ${handleName(handle)}: replica on ${s.addr} is damaged (${reason}); dropped${others > 0 ? "" : ", kept on its disk: no other replica is live"}`);
    const l = this.leases.current(handle, Date.now());
    if (l?.primary === s.id) this.leases.revoke(handle);
  }

  private onPeerClosed(peer: Peer, why: string): void {
    const s = peer.tag as ServerRecord | null;
    if (!s || this.peersById.get(s.id) !== peer) return;
    this.peersById.delete(s.id);
    this.serverLost(s.id, `connection closed (${why})`);
  }

  private checkLiveness(): void {
    for (const id of this.registry.silent(Date.now(), this.cfg.deadAfterMs)) this.serverLost(id, `no heartbeat for ${this.cfg.deadAfterMs} ms`);
  }

  private serverLost(id: string, why: string): void {
    const s = this.registry.servers.get(id);
    if (!s?.alive) return;
    const held = this.registry.markDead(id);
    this.repairs.changed();
    const leases = this.leases.dropServer(id);
    this.log.warn(`chunk server ${s.addr} (${id}) lost: ${why}; ${held.length} replicas and ${leases.length} leases dropped`);
    this.peersById.get(id)?.close("declared dead");
  }
}
