// The master daemon: recovers its state, logs every change before
// acknowledging it (locally, or in etcd with HA), checkpoints, and routes
// each request to its family: the namespace (namespace-requests.ts), chunks
// and leases (chunk-requests.ts), chunk servers (chunkserver-requests.ts).
// Decisions live in pure modules (state.ts, versions.ts, leases.ts,
// placement.ts, servers.ts, repairs.ts); this file does the IO around them.
import { mkdirSync } from "node:fs";
import { advertisedHost } from "../advertised-address";
import { DataDirLock } from "../data-dir-lock";
import { checksumImplementation } from "../checksums";
import { MetricsRegistry } from "../metrics";
import { RpcLog } from "../rpc-log";
import { SAMPLE_MS, StatusHistory } from "./status";
import type { ConsolaInstance } from "consola";
import { ErrorCode, GfsError } from "../../net/errors";
import type { Handle, Leadership, MasterRole, RequestType } from "../../net/messages";
import { DEFAULT_IDLE_MS, connect, isLoopbackHost, listen, type Listener, type Peer } from "../../net/peer";
import { logger, recentEvents } from "../log";
import { selfArgv } from "../self";
import { pruneOld, recover } from "./checkpoint";
import { LeaseTable } from "./leases";
import { NamespaceLocks, lockPlan, type LockMode } from "./locks";
import { OpLog } from "./oplog";
import { EtcdClient } from "./etcd-client";
import { checkpointSlice, fetchCheckpoint } from "./checkpoint-transfer";
import { HaNode, sharedClusterParams } from "./ha-node";
import type { ReplicatedLogWriter } from "./replicated-log";
import { normalizePath } from "./paths";
import { Repairs, type RepairConfig } from "./repairs";
import { ServerRegistry } from "./servers";
import { establishClusterParams } from "./cluster-params";
import { MasterState, type ClusterParams, type Op } from "./state";
import { ChunkRequests } from "./chunk-requests";
import { ChunkServerRequests } from "./chunkserver-requests";
import { NamespaceRequests } from "./namespace-requests";
import type { MasterContext } from "./context";

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

/** A clone reports when it is done: a paced copy of a whole chunk takes a while. */
const CLONE_CALL_MS = 30 * 60_000;

export class Master implements MasterContext {
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
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly nsLocks = new NamespaceLocks();
  private timers: ReturnType<typeof setInterval>[] = [];
  private checkpointing = false;
  /** Re-replication (M11). */
  readonly repairs: Repairs;
  private lock: DataDirLock | null = null;
  /** Every request served and its reply, to DIR/rpc.log (core/rpc-log.ts). */
  private rpcLog: RpcLog | null = null;
  startedAtMs = Date.now();
  port = 0;
  /** What /metrics shows (core/metrics.ts). */
  readonly metrics = new MetricsRegistry("gfs_master");
  /** Rates over the last hour, for the status page. */
  readonly history = new StatusHistory();

  /** The requests, by family. */
  readonly namespaceRequests: NamespaceRequests;
  readonly chunkRequests: ChunkRequests;
  readonly serverRequests: ChunkServerRequests;

  constructor(readonly cfg: MasterConfig) {
    // Made here, not as field initializers: they read cfg, which is set only when the constructor runs.
    this.namespaceRequests = new NamespaceRequests(this);
    this.chunkRequests = new ChunkRequests(this);
    this.serverRequests = new ChunkServerRequests(this);
    this.leases = new LeaseTable(cfg.leaseMs);
    this.repairs = new Repairs({
      state: () => this.state,
      registry: this.registry,
      leases: this.leases,
      log: this.log,
      chunkSizeBytes: () => this.state.params.chunkSizeBytes,
      cloneChunk: (id, body) => this.chunkRequests.callServer(id, "cloneChunk", body, CLONE_CALL_MS),
      freeze: (handle) => this.chunkRequests.freezeForClone(handle),
      damaged: (handle, id, reason) => {
        const s = this.registry.servers.get(id);
        if (s) this.chunkRequests.replicaDamaged(handle, s, reason);
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
      onClose: (p, why) => this.serverRequests.onPeerClosed(p, why),
      onServed: (type, outcome, ms) => this.metrics.served(type, outcome, ms),
      rpcLog: this.rpcLog!,
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
    this.timers.push(setInterval(() => this.serverRequests.checkLiveness(), tick));
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
      this.namespaceRequests.sweep().catch((err) => this.log.warn(`garbage collection: ${(err as Error).message}`)).finally(() => (sweeping = false));
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
      const h = this.namespaceRequests.health();
      return [["under_replicated", h.underReplicated], ["over_replicated", h.overReplicated], ["missing", h.missing], ["damaged", h.corrupt], ["one_rack", h.misplaced], ["repairing", h.repairing]].map(([state, n]) => [{ state: state as string }, n as number]);
    });
    m.gauge("gfs_master_replicas_awaiting_deletion", "Stale or surplus replicas queued for deletion", () => this.namespaceRequests.health().stale);
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
  async commit(op: Op): Promise<void> {
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
    this.dropFreed(freed);
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
    // What the current copy still holds in memory goes to disk first, so that it is read back too.
    await this.oplog?.close();
    const rec = recover(this.cfg.dataDir, params, { recoverDamage: this.cfg.recoverLog || !!this.cfg.ha });
    if (rec.recovered) {
      if (this.cfg.ha) this.log.warn(`the local copy of the operation log was damaged; ${rec.recovered}; the changes after it come from etcd`);
      else this.log.warn(`--recover: the operation log was damaged; ${rec.recovered}. Changes logged after the damage are lost.`);
    }
    this.lastRecovery = rec;
    this.state = rec.state;
    this.checkpointedOp = rec.checkpointLastOp;
    this.chunkRequests.newTerm();
    this.oplog = new OpLog(this.cfg.dataDir, undefined, !this.cfg.ha);
    await this.oplog.openSeq(rec.lastLogSeq, rec.lastLogBytes, rec.state.lastOp + 1);
  }

  /** What the HA node needs from this master. */
  private haHost() {
    return {
      lastOp: () => this.state.lastOp,
      checkpointedOp: () => this.checkpointedOp,
      apply: (ops: Op[], records: Uint8Array) => {
        const first = ops[0]!.q!;
        for (const op of ops) {
          const freed = this.state.apply(op);
          this.state.lastOp = op.q!;
          for (const h of freed) {
            this.leases.revoke(h);
            this.registry.dropChunk(h);
          }
        }
        this.logLocally(records, first, ops.length);
        this.maybeCheckpoint();
      },
      lead: (writer: ReplicatedLogWriter) => {
        writer.onCommit = (ops, records, ms) => {
          this.logLocally(records, ops[0]!.q!, ops.length);
          this.logCommitted?.(ops.length, ms);
        };
        this.leases.clear();
        this.chunkRequests.newTerm();
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

  /** Appends committed changes to this master's local log, whose checkpoints let etcd's log be pruned. */
  private logLocally(records: Uint8Array, firstOp: number, count: number): void {
    this.oplog.appendEncoded(records, firstOp, count).catch((err) => {
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
  leadership(): Leadership {
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

  /** Runs `fn` holding namespace locks (M2) on `paths` (and read locks on their ancestors). */
  async withPaths<T>(paths: string[], mode: LockMode, fn: () => Promise<T>): Promise<T> {
    const release = await this.nsLocks.acquire(lockPlan(paths.map((p) => normalizePath(p)), mode));
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Runs `fn` with no other holder of `key` running at the same time. */
  async locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
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
        return this.withPaths([body.path], "write", () => this.namespaceRequests.mkdir(body));
      case "create":
        return this.withPaths([body.path], "write", () => this.namespaceRequests.create(body));
      case "ls":
        return this.namespaceRequests.ls(body);
      case "stat":
        return this.namespaceRequests.stat(body);
      case "mv":
        return this.withPaths([body.src, body.dst], "write", () => this.namespaceRequests.mv(body));
      case "rm":
        return this.withPaths([body.path], "write", () => this.namespaceRequests.rm(body));
      case "undelete":
        return this.withPaths([body.path], "write", () => this.namespaceRequests.undelete(body));
      case "snapshot":
        return this.withPaths([body.src, body.dst], "write", () => this.namespaceRequests.snapshot(body));
      case "locate":
        return this.namespaceRequests.locate(body);
      case "lease":
        this.namespaceRequests.touchUpload(normalizePath(body.path));
        return this.withPaths([body.path], "read", () => this.chunkRequests.lease(body));
      case "complete":
        this.namespaceRequests.touchUpload(normalizePath(body.path));
        return this.namespaceRequests.complete(body);
      case "appendLease":
        return this.withPaths([body.path], "read", () => this.chunkRequests.appendLease(body));
      case "cluster":
        return this.serverRequests.cluster();
      case "events":
        return { events: recentEvents(body.afterSeq) };
      case "checkpoint":
        return checkpointSlice(this.cfg.dataDir, body);
      case "fsck":
        return this.namespaceRequests.fsck(body);
      case "setrep":
        return this.withPaths([body.path], "write", () => this.namespaceRequests.setrep(body));
      case "drain":
        return this.serverRequests.drain(body);
      case "rebalance":
        return this.serverRequests.rebalance(body);
      case "register":
        return this.serverRequests.register(body, peer);
      case "heartbeat":
        return this.serverRequests.heartbeat(body, peer);
      case "corrupt":
        return this.serverRequests.corrupt(body, peer);
      default:
        throw new GfsError(ErrorCode.NOT_IMPLEMENTED, `${type} is not served by the master`);
    }
  }

  /** What the status page shows (/status.json): the cluster, its health, its servers, repairs, events and rates. */
  statusSnapshot(listenAddr: string): unknown {
    const now = Date.now();
    const { problems: _, ...health } = this.namespaceRequests.health();
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
}
