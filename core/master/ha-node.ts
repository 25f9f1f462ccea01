// One master's part in HA (M16): it follows the operation log in etcd, takes
// part in the election, and, while it leads, keeps its etcd lease alive. The
// master (server.ts) is told when to apply committed batches, when it leads
// (with a writer fenced by its election key) and when it lost leadership.
//
// etcd keys under PREFIX:
//   PREFIX/leader          the leader's address, under its lease; its create revision is the epoch
//   PREFIX/log/<first>     a batch of logged changes (replicated-log.ts)
//   PREFIX/masters/<addr>  each master's last checkpointed change, under its lease
//   PREFIX/params          the cluster's chunk size and replication, fixed by the first master
import { setTimeout as sleep } from "node:timers/promises";
import type { ConsolaInstance } from "consola";
import { ErrorCode, GfsError } from "../../net/errors";
import { type EtcdClient, prefixEnd, type WatchEvent } from "./etcd-client";
import { LeaderTerm, ReadLag } from "./leadership";
import { ReplicatedLogWriter, batchFirst, batchKey, decodeBatch, logPrefix, prunableBatches } from "./replicated-log";
import type { ClusterParams, Op } from "./state";

export interface HaConfig {
  etcd: EtcdClient;
  prefix: string;
  /** The election lease's TTL. */
  ttlMs: number;
  /** The address clients and chunk servers reach this master at. */
  address: string;
  log: ConsolaInstance;
}

/** What the master does for its HA node. */
export interface HaHost {
  /** The last change applied. */
  lastOp(): number;
  /** Applies committed changes (consecutive, the first one after lastOp()); `records` are their bytes as logged. */
  apply(ops: Op[], records: Uint8Array): void;
  /** This master leads from now on; every change goes through `writer`. */
  lead(writer: ReplicatedLogWriter): void;
  /** This master lost leadership: it drops changes that may not have committed and rebuilds from what did. */
  deposed(why: string): Promise<void>;
  /** The last change this master's newest checkpoint holds. */
  checkpointedOp(): number;
  /** Installs the newest checkpoint of master `peer` and rebuilds from it (this master lacks pruned batches). */
  fetchCheckpoint(peer: string): Promise<void>;
}

/** etcd no longer holds changes this master needs: it fetches a peer master's checkpoint. */
export class LogGap extends GfsError {
  constructor(readonly applied: number, readonly oldest: number) {
    super(ErrorCode.NOT_FOUND, `this master has applied changes up to ${applied}, but etcd holds the log from change ${oldest} on (the rest was checkpointed by every master while this one was away)`);
  }
}

const PAGE_BATCHES = 256;
/** How often a standby probes etcd: the leader key (to campaign when it is gone) and the newest batch (its lag). */
const PROBE_MS = 250;
/** How often the leader deletes batches every master has checkpointed. */
const PRUNE_MS = 5_000;

const dec = (b: Uint8Array) => new TextDecoder().decode(b);

export class HaNode {
  role: "leader" | "standby" = "standby";
  /** The epoch of the leader this master knows of (its own when it leads). */
  epoch = 0;
  /** The leader's address, when known. */
  leader: string | undefined;
  private term: LeaderTerm | null = null;
  private writer: ReplicatedLogWriter | null = null;
  private lease: string | null = null;
  /** Not readable until it has caught up once. */
  private readonly lag = new ReadLag(0);
  private stopped = false;
  private watch: { cancel(): void } | null = null;
  /** Since when etcd has not answered (0: it answers). */
  etcdDownSinceMs = 0;
  private loops: Promise<void>[] = [];
  private changing = false;

  constructor(readonly cfg: HaConfig, private readonly host: HaHost) {}

  private get leaderKey(): string {
    return `${this.cfg.prefix}/leader`;
  }

  private get memberKey(): string {
    return `${this.cfg.prefix}/masters/${this.cfg.address}`;
  }

  /** Applies every batch etcd holds after this master's last change. Returns the revision read at. */
  async catchUp(): Promise<number> {
    const end = prefixEnd(logPrefix(this.cfg.prefix));
    let revision = 0;
    // The local log may end inside a batch (it is written change by change): start at the batch holding the next change.
    const holding = await this.cfg.etcd.range(logPrefix(this.cfg.prefix), batchKey(this.cfg.prefix, this.host.lastOp() + 1) + "\0", { limit: 1, keysOnly: true, descending: true });
    let from = holding.kvs[0]?.key ?? logPrefix(this.cfg.prefix);
    for (;;) {
      const page = await this.cfg.etcd.range(from, end, { limit: PAGE_BATCHES });
      revision = page.revision;
      for (const kv of page.kvs) this.applyBatch(kv.key, kv.value);
      if (!page.more || page.kvs.length === 0) break;
      from = page.kvs[page.kvs.length - 1]!.key + "\0";
    }
    if (this.host.lastOp() === 0 || revision > 0) await this.checkNoGap();
    return revision;
  }

  /** The first batch in etcd must not start after the change this master needs next. */
  private async checkNoGap(): Promise<void> {
    const first = await this.cfg.etcd.range(logPrefix(this.cfg.prefix), prefixEnd(logPrefix(this.cfg.prefix)), { limit: 1, keysOnly: true });
    const oldest = first.kvs[0] ? batchFirst(this.cfg.prefix, first.kvs[0].key) : 0;
    if (oldest > this.host.lastOp() + 1) throw new LogGap(this.host.lastOp(), oldest);
  }

  /** Applies the changes of a batch this master does not have yet (all of them, some, or none). */
  private applyBatch(key: string, value: Uint8Array): void {
    const first = batchFirst(this.cfg.prefix, key);
    const last = this.host.lastOp();
    if (first > last + 1) throw new LogGap(last, first);
    const { ops, offsets } = decodeBatch(first, value);
    // Changes are numbered consecutively from `first`: those up to `last` are applied already.
    const skip = Math.max(0, last + 1 - first);
    if (skip < ops.length) this.host.apply(ops.slice(skip), value.subarray(offsets[skip]));
    this.lag.applied(this.host.lastOp());
  }

  /** Catches up, fetching a peer master's checkpoint first when etcd no longer holds what this master needs. */
  async catchUpOrFetch(): Promise<void> {
    try {
      await this.catchUp();
    } catch (err) {
      if (!(err instanceof LogGap)) throw err;
      const peer = await this.peerWithCheckpoint(err.oldest - 1);
      this.cfg.log.warn(`${err.message}: fetching the newest checkpoint of ${peer}`);
      await this.host.fetchCheckpoint(peer);
      await this.catchUp();
    }
  }

  /** The other master whose checkpoint reaches furthest, if it reaches `atLeast`. */
  private async peerWithCheckpoint(atLeast: number): Promise<string> {
    const members = await this.cfg.etcd.range(`${this.cfg.prefix}/masters/`, prefixEnd(`${this.cfg.prefix}/masters/`));
    let best: { addr: string; op: number } | null = null;
    for (const kv of members.kvs) {
      const addr = kv.key.slice(`${this.cfg.prefix}/masters/`.length);
      if (addr === this.cfg.address) continue;
      try {
        const op = Number(JSON.parse(dec(kv.value)).checkpointedOp) || 0;
        if (!best || op > best.op) best = { addr, op };
      } catch {}
    }
    if (!best || best.op < atLeast) throw new GfsError(ErrorCode.UNAVAILABLE, `no running master has a checkpoint through change ${atLeast} to fetch${best ? ` (the best, ${best.addr}, has ${best.op})` : ""}`);
    return best.addr;
  }

  /** Starts following, campaigning and (when leading) keeping the lease alive. */
  start(): void {
    this.loops.push(this.followLoop(), this.probeLoop());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watch?.cancel();
    this.writer?.close(new GfsError(ErrorCode.UNAVAILABLE, "the master is stopping"));
    // Hand leadership over at once instead of after the lease's TTL.
    if (this.lease) await this.cfg.etcd.revokeLease(this.lease);
    await Promise.allSettled(this.loops);
    this.cfg.etcd.close();
  }

  /** Whether this master may answer reads: it leads, its lag is under `maxLagMs`, or etcd is down (nobody can commit). */
  readable(maxLagMs: number): boolean {
    const now = Date.now();
    if (this.leading(now)) return true;
    if (this.lag.lagMs(now) <= maxLagMs) return true;
    return this.etcdDownSinceMs > 0 && now - this.etcdDownSinceMs > maxLagMs;
  }

  private isLeader(): boolean {
    return this.role === "leader";
  }

  leading(nowMs = Date.now()): boolean {
    return this.role === "leader" && !!this.term?.valid(nowMs) && !this.writer?.closed;
  }

  lagMs(): number {
    return this.role === "leader" ? 0 : this.lag.lagMs(Date.now());
  }

  /** A standby follows the log: reads what it missed, then watches for more. */
  private async followLoop(): Promise<void> {
    const end = prefixEnd(logPrefix(this.cfg.prefix));
    while (!this.stopped) {
      if (this.role === "leader" || this.changing) {
        await sleep(100);
        continue;
      }
      try {
        const t0 = Date.now();
        await this.catchUpOrFetch();
        const revision = await this.catchUp();
        this.lag.currentAsOf(t0);
        if (this.isLeader() || this.stopped) continue;
        let failure: Error | null = null;
        const w = this.cfg.etcd.watch(logPrefix(this.cfg.prefix), end, revision + 1, (events: WatchEvent[]) => {
          if (failure) return;
          if (this.role === "leader" || this.changing) {
            // Elected (or stepping down) while the watch was being set up: the leader follows nobody, and a standby
            // again reads what it missed before it watches.
            w.cancel();
            return;
          }
          try {
            for (const e of events) if (e.type === "put") this.applyBatch(e.kv.key, e.kv.value);
          } catch (err) {
            failure = err as Error;
            w.cancel();
          }
        });
        this.watch = w;
        const why = await w.closed;
        this.watch = null;
        if (failure) throw failure;
        if (!this.stopped && why !== "cancelled") this.cfg.log.debug(`following the log: ${why}; reading it again`);
      } catch (err) {
        if (!this.stopped) this.cfg.log.warn(`following the operation log in etcd: ${(err as Error).message}`);
        await sleep(500);
      }
    }
  }

  /**
   * Every PROBE_MS: a standby campaigns (one transaction that creates the
   * leader key under its lease if it is absent, and otherwise reads who
   * leads and the newest batch); the leader keeps its lease alive and steps
   * down when it cannot. Both keep their member record fresh.
   */
  private async probeLoop(): Promise<void> {
    let lastPrune = Date.now();
    let lastMember = 0;
    let lastRenew = 0;
    while (!this.stopped) {
      const sentAt = Date.now();
      try {
        if (!this.lease) {
          this.lease = await this.cfg.etcd.grantLease(Math.max(1, Math.ceil(this.cfg.ttlMs / 1000)));
          lastMember = 0;
          lastRenew = sentAt;
        } else if (sentAt - lastRenew >= this.cfg.ttlMs / 3) {
          lastRenew = sentAt;
          const left = await this.cfg.etcd.keepAlive(this.lease);
          if (left <= 0) {
            this.lease = null;
            if (this.role === "leader") await this.stepDown("its etcd lease expired (the master was paused or cut off for longer than the TTL)");
            continue;
          }
          this.term?.renewed(sentAt);
        }
        if (sentAt - lastMember > this.cfg.ttlMs / 3) {
          await this.cfg.etcd.put(this.memberKey, JSON.stringify({ checkpointedOp: this.host.checkpointedOp(), appliedOp: this.host.lastOp() }), this.lease);
          lastMember = sentAt;
        }
        if (this.role === "standby") await this.campaign(sentAt);
        else if (!this.leading()) await this.stepDown("its term ran out before etcd renewed it");
        else if (Date.now() - lastPrune > PRUNE_MS) {
          lastPrune = Date.now();
          await this.prune();
        }
        this.etcdDownSinceMs = 0;
      } catch (err) {
        if (!this.etcdDownSinceMs) {
          this.etcdDownSinceMs = sentAt;
          this.cfg.log.warn(`etcd: ${(err as Error).message}`);
        }
        if (this.role === "leader" && !this.leading()) await this.stepDown("etcd did not renew its lease in time");
      }
      await sleep(PROBE_MS);
    }
  }

  private async campaign(sentAt: number): Promise<void> {
    const end = prefixEnd(logPrefix(this.cfg.prefix));
    const r = await this.cfg.etcd.txn(
      [{ key: this.leaderKey, createRevision: 0 }],
      [{ put: { key: this.leaderKey, value: this.cfg.address, lease: this.lease! } }],
      [{ range: { key: this.leaderKey } }, { range: { key: logPrefix(this.cfg.prefix), rangeEnd: end, limit: 1, keysOnly: true, descending: true } }],
    );
    if (!r.succeeded) {
      const kv = r.ranges[0]![0];
      if (kv && dec(kv.value) === this.cfg.address) {
        // The key names this master, which no longer leads (it stepped down while etcd was away, and etcd kept the
        // lease alive across its restart): give it up so that an election can happen.
        await this.cfg.etcd.txn([{ key: this.leaderKey, createRevision: kv.createRevision }], [{ deleteRange: { key: this.leaderKey, rangeEnd: this.leaderKey + "\0" } }]);
        this.cfg.log.info(`gave up the leader key of epoch ${kv.createRevision}, which named this master after it stepped down`);
        return;
      }
      if (kv) {
        const leader = dec(kv.value);
        if (leader !== this.leader || kv.createRevision !== this.epoch) this.cfg.log.info(`the leader is ${leader} (epoch ${kv.createRevision})`);
        this.leader = leader;
        this.epoch = kv.createRevision;
      }
      const newest = r.ranges[1]![0];
      this.lag.mark(sentAt, newest ? batchFirst(this.cfg.prefix, newest.key) : 0, this.host.lastOp());
      return;
    }
    // Elected: our key's create revision is the epoch. No other master can commit now, so what etcd holds is the whole log.
    const epoch = r.revision;
    this.changing = true;
    try {
      this.watch?.cancel();
      await this.catchUp();
      this.term = new LeaderTerm(epoch, this.cfg.ttlMs, sentAt);
      this.writer = new ReplicatedLogWriter(this.cfg.etcd, this.cfg.prefix, this.leaderKey, epoch, this.host.lastOp() + 1, (err) => {
        void this.stepDown(err.message);
      });
      this.role = "leader";
      this.epoch = epoch;
      this.leader = this.cfg.address;
      this.lag.current(Date.now());
      this.cfg.log.info(`leading from change ${this.host.lastOp()} (epoch ${epoch})`);
      this.host.lead(this.writer);
    } catch (err) {
      // Could not catch up: give the key back so another master can lead.
      await this.cfg.etcd.txn([{ key: this.leaderKey, createRevision: epoch }], [{ deleteRange: { key: this.leaderKey, rangeEnd: this.leaderKey + "\0" } }]).catch(() => {});
      throw err;
    } finally {
      this.changing = false;
    }
  }

  private async stepDown(why: string): Promise<void> {
    if (this.role !== "leader" || this.changing) return;
    this.changing = true;
    try {
      this.cfg.log.warn(`no longer the leader (epoch ${this.epoch}): ${why}`);
      this.writer?.close(new GfsError(ErrorCode.NOT_LEADER, `this master lost leadership: ${why}`));
      this.writer = null;
      this.term = null;
      this.role = "standby";
      this.leader = undefined;
      await this.host.deposed(why);
    } finally {
      this.changing = false;
    }
  }

  /** Deletes the batches every live master has checkpointed past. */
  private async prune(): Promise<void> {
    const members = await this.cfg.etcd.range(`${this.cfg.prefix}/masters/`, prefixEnd(`${this.cfg.prefix}/masters/`));
    let upTo = this.host.checkpointedOp();
    for (const kv of members.kvs) {
      try {
        upTo = Math.min(upTo, Number(JSON.parse(dec(kv.value)).checkpointedOp) || 0);
      } catch {
        upTo = 0;
      }
    }
    if (upTo <= 0) return;
    const end = prefixEnd(logPrefix(this.cfg.prefix));
    const keys = await this.cfg.etcd.range(logPrefix(this.cfg.prefix), end, { keysOnly: true, limit: 10_000 });
    const firsts = keys.kvs.map((kv) => batchFirst(this.cfg.prefix, kv.key));
    const gone = prunableBatches(firsts, upTo);
    if (gone.length === 0) return;
    await this.cfg.etcd.deleteRange(logPrefix(this.cfg.prefix), batchKey(this.cfg.prefix, firsts[gone.length]!));
    this.cfg.log.info(`pruned ${gone.length} log batches from etcd (changes up to ${firsts[gone.length]! - 1}, checkpointed by every master)`);
  }

  /** A change goes to etcd through the current writer; refused when this master does not lead. */
  writerOrRefuse(): ReplicatedLogWriter {
    if (!this.writer || !this.leading()) throw this.notLeader();
    return this.writer;
  }

  notLeader(): GfsError {
    return new GfsError(
      ErrorCode.NOT_LEADER,
      this.leader && this.leader !== this.cfg.address ? `this master (${this.cfg.address}) is a standby; the leader is ${this.leader}` : `this master (${this.cfg.address}) is a standby and no leader is known yet`,
      this.leader && this.leader !== this.cfg.address ? this.leader : undefined,
    );
  }
}

/** The cluster's parameters: those recorded in etcd, else `wanted`, recorded now by this first master. */
export async function sharedClusterParams(etcd: EtcdClient, prefix: string, wanted: ClusterParams): Promise<ClusterParams> {
  const key = `${prefix}/params`;
  const r = await etcd.txn([{ key, createRevision: 0 }], [{ put: { key, value: JSON.stringify(wanted) } }], [{ range: { key } }]);
  if (r.succeeded) return wanted;
  const got = JSON.parse(dec(r.ranges[0]![0]!.value)) as ClusterParams;
  return { chunkSizeBytes: got.chunkSizeBytes, replication: got.replication };
}
