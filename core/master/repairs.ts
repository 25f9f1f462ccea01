// The master's repair loop (M11): finds chunks below their target, starts
// server-to-server clones as re-replication.ts plans them, and drops surplus
// replicas. Runs when something changed (a server lost or back, a replica
// dropped, a clone ended, a chunk created short) and every few seconds anyway.
//
// A clone is made from a chunk without a live lease, after the master moved
// its replicas to a new version: a mutation ordered under an older lease can
// no longer complete (a replica at the new version refuses it), so the bytes
// copied are final. A write needs a new lease, which raises the version on the
// listed replicas only, so a clone that raced with one ends at an old version:
// it is then discarded, never listed.
import type { ConsolaInstance } from "consola";
import type { Handle, RebalanceReply, ReqBody } from "../../net/messages";
import { ErrorCode, GfsError } from "../../net/errors";
import { handleName } from "../handles";
import type { LeaseTable } from "./leases";
import { Priority, imbalancePct, planClones, planRebalance, planSurplus, projectUse, type ChunkHealth, type Clone, type CloneLimits, type Move, type RebalanceChunk, type UseChange } from "./re-replication";
import type { ServerRegistry } from "./servers";
import type { MasterState } from "./state";
import { TRASH_DIR } from "./trash";

export interface RepairConfig extends CloneLimits {
  /** Bytes per second per clone (0: unpaced). */
  cloneBytesPerSec: number;
  /** Bytes per second per rebalancing move (0: unpaced). */
  rebalanceBytesPerSec?: number;
}

/** A rebalance's figures, as the `rebalance` reply carries them (without the plan). */
export type RebalanceStatus = Omit<RebalanceReply, "plan">;

export interface RepairDeps {
  state: () => MasterState;
  registry: ServerRegistry;
  leases: LeaseTable;
  log: ConsolaInstance;
  chunkSizeBytes: () => number;
  cloneChunk(serverId: string, body: ReqBody<"cloneChunk">): Promise<{ size: number }>;
  /** Moves the chunk's replicas to a new version (refused under a live lease); returns it. */
  freeze(handle: Handle): Promise<number>;
  /** A replica turned out damaged (a copy from it found it short): dropped as a chunk server's own report would. */
  damaged(handle: Handle, serverId: string, reason: string): void;
}

/** A full scan at least this often, changed or not. */
const SCAN_EVERY_MS = 5_000;

export class Repairs {
  private readonly underWay: Clone[] = [];
  private dirty = true;
  private lastScanMs = 0;
  /** Chunks a client found short of replicas: first in line. */
  private readonly wanted = new Set<Handle>();
  /** Clones done and bytes copied since the start (for status and benchmarks). */
  readonly done = { clones: 0, bytes: 0, failed: 0 };
  /** A rebalance under way (gfs rebalance), until every server is within its threshold. */
  private rebalancing: { thresholdPct: number; moved: number; movedBytes: number } | null = null;
  /** The last rebalance that finished, for its figures. */
  private rebalanced: { thresholdPct: number; moved: number; movedBytes: number } | null = null;
  /** Disk use moved by finished moves, each until the heartbeat count after which the server's reports include it. */
  private unreported: (UseChange & { untilHeartbeats: number })[] = [];

  constructor(private readonly deps: RepairDeps, private readonly cfg: RepairConfig) {}

  /** Something that may change a chunk's replica count happened. */
  changed(): void {
    this.dirty = true;
  }

  /** A client needs this chunk and it has fewer replicas than it should. */
  want(handle: Handle): void {
    this.wanted.add(handle);
    this.dirty = true;
  }

  get cloning(): number {
    return this.underWay.length;
  }

  /** The moves a rebalance to `thresholdPct` would start now (at most `limit`). */
  previewRebalance(thresholdPct: number, limit: number): Move[] {
    return this.planMoves(this.health(Date.now()), thresholdPct, limit);
  }

  startRebalance(thresholdPct: number): void {
    this.rebalancing = { thresholdPct, moved: 0, movedBytes: 0 };
    this.dirty = true;
    this.deps.log.info(`rebalance started: to within ${thresholdPct} points of the average disk use (now ${imbalancePct(this.deps.registry.candidates()).toFixed(1)})`);
  }

  rebalanceStatus(): RebalanceStatus {
    const r = this.rebalancing ?? this.rebalanced;
    return {
      active: this.rebalancing !== null, thresholdPct: r?.thresholdPct ?? 0, moved: r?.moved ?? 0, movedBytes: r?.movedBytes ?? 0,
      underWay: this.underWay.filter((u) => u.priority === Priority.REBALANCE).length,
      imbalancePct: imbalancePct(this.deps.registry.candidates()),
    };
  }

  private planMoves(health: Map<Handle, ChunkHealth>, thresholdPct: number, limit: number): Move[] {
    const state = this.deps.state();
    const on = new Map<string, RebalanceChunk[]>();
    for (const c of health.values()) {
      // Only chunks with all their replicas: a move must not take the last spare copy away.
      if (c.holders.length < c.target || c.leaving?.length) continue;
      const rc = { handle: c.handle, sizeBytes: state.chunks.sizeOf(c.handle), holders: c.holders };
      for (const id of c.holders) {
        let list = on.get(id);
        if (!list) on.set(id, (list = []));
        list.push(rc);
      }
    }
    // Planned on disk use as it will be after the moves under way and those not yet reported.
    this.settled();
    const changes: UseChange[] = [...this.unreported];
    for (const u of this.underWay) {
      if (u.priority !== Priority.REBALANCE) continue;
      const bytes = state.chunks.sizeOf(u.handle);
      changes.push({ server: u.to, bytes }, { server: u.from, bytes: -bytes });
    }
    const servers = projectUse(this.deps.registry.candidates(), changes);
    const moves = planRebalance(servers, (id) => on.get(id) ?? [], thresholdPct, limit, new Set(this.underWay.map((u) => u.handle)));
    // A server takes part in at most maxPerServer copies at once: a new server is filled gradually.
    const busy = new Map<string, number>();
    for (const u of this.underWay) for (const id of [u.from, u.to]) busy.set(id, (busy.get(id) ?? 0) + 1);
    return moves.filter((m) => {
      if ((busy.get(m.from) ?? 0) >= this.cfg.maxPerServer || (busy.get(m.to) ?? 0) >= this.cfg.maxPerServer) return false;
      for (const id of [m.from, m.to]) busy.set(id, (busy.get(id) ?? 0) + 1);
      return true;
    });
  }

  isCloning(handle: Handle): boolean {
    return this.underWay.some((c) => c.handle === handle);
  }

  /** Chunks that still need a draining server: fewer other live replicas than their target. */
  dependingOn(serverId: string): number {
    const state = this.deps.state();
    const registry = this.deps.registry;
    const seen = new Set<Handle>();
    let n = 0;
    for (const f of state.ns.fileIds()) {
      const target = state.ns.replicationOf(f);
      for (let i = 0; i < state.ns.chunkCount(f); i++) {
        const h = state.ns.chunkAt(f, i);
        if (seen.has(h)) continue;
        seen.add(h);
        const refs = registry.replicaRefs(h);
        if (!refs.some((r) => r.id === serverId)) continue;
        const others = refs.filter((r) => r.id !== serverId && !registry.servers.get(r.id)?.draining).length;
        if (others < target) n++;
      }
    }
    return n;
  }

  tick(nowMs: number): void {
    if (!this.dirty && !this.rebalancing && nowMs - this.lastScanMs < SCAN_EVERY_MS) return;
    this.dirty = false;
    this.lastScanMs = nowMs;
    const health = this.health(nowMs);
    const servers = this.deps.registry.live();
    const clones = planClones(health.values(), servers, this.underWay, this.cfg, this.deps.chunkSizeBytes());
    for (const c of clones) void this.clone(c);
    // Rebalancing yields to repairs: it moves only while nothing needs copying.
    // A move starts as soon as another ends; the rebalance is done when none is
    // left to plan on disk use the servers have reported.
    if (this.rebalancing && clones.length === 0 && this.underWay.every((u) => u.priority === Priority.REBALANCE)) {
      const moves = this.planMoves(health, this.rebalancing.thresholdPct, this.cfg.maxClones - this.underWay.length);
      if (moves.length === 0 && this.underWay.length === 0 && this.settled()) {
        this.deps.log.info(`rebalance done: ${this.rebalancing.moved} replicas moved; every server within ${this.rebalancing.thresholdPct} points of the average (largest distance ${imbalancePct(this.deps.registry.candidates()).toFixed(1)})`);
        this.rebalanced = this.rebalancing;
        this.rebalancing = null;
      }
      for (const m of moves) void this.clone({ ...m, priority: Priority.REBALANCE });
    }
    const surplus = planSurplus([...health.values()].filter((c) => c.holders.length > c.target && !this.underWay.some((u) => u.handle === c.handle)), servers);
    for (const { handle, server } of surplus) {
      const s = this.deps.registry.servers.get(server);
      if (!s) continue;
      this.deps.registry.removeLocation(handle, server);
      s.discard.add(handle);
      this.deps.log.info(`chunk ${handleName(handle)}: surplus replica on ${s.addr} dropped`);
    }
    this.wanted.clear();
  }

  /** Drops the changes servers' reports now show; whether none is left (a lost server is not waited for). */
  private settled(): boolean {
    this.unreported = this.unreported.filter((u) => {
      const s = this.deps.registry.servers.get(u.server);
      return s?.alive === true && s.heartbeats < u.untilHeartbeats;
    });
    return this.unreported.length === 0;
  }

  /** Every chunk of every file with its target (the highest of the files sharing it) and live holders. */
  private health(nowMs: number): Map<Handle, ChunkHealth & { leased: boolean }> {
    const state = this.deps.state();
    const out = new Map<Handle, ChunkHealth & { leased: boolean }>();
    // Files in the trash are repaired after live ones.
    const trash = state.lookup(TRASH_DIR);
    const trashed = new Set<number>();
    if (trash && state.ns.isDir(trash)) for (const [, id] of state.ns.walk(trash)) if (state.ns.isFile(id)) trashed.add(id);
    for (const f of state.ns.fileIds()) {
      const target = state.ns.replicationOf(f);
      const n = state.ns.chunkCount(f);
      for (let i = 0; i < n; i++) {
        const h = state.ns.chunkAt(f, i);
        const known = out.get(h);
        if (known) {
          known.target = Math.max(known.target, target);
          known.deleted &&= trashed.has(f);
          continue;
        }
        const leased = this.deps.leases.current(h, nowMs) !== undefined;
        const refs = leased ? [] : this.deps.registry.replicaRefs(h);
        const leaving = refs.filter((r) => this.deps.registry.servers.get(r.id)?.draining).map((r) => r.id);
        out.set(h, {
          handle: h, target, holders: refs.filter((r) => !leaving.includes(r.id)).map((r) => r.id), leaving,
          wanted: this.wanted.has(h), deleted: trashed.has(f), leased,
        });
      }
    }
    // A leased chunk is written now: neither cloned nor trimmed until its lease ends.
    for (const [h, c] of out) if (c.leased) out.delete(h);
    return out;
  }

  private async clone(c: Clone): Promise<void> {
    const { registry, log } = this.deps;
    const from = registry.ref(c.from);
    const to = registry.ref(c.to);
    if (!from || !to) return;
    this.underWay.push(c);
    const t0 = Date.now();
    /** A deletion of this chunk queued for the destination (a damaged or dropped replica): the copy replaces that replica, and the deletion must not reach the copy. */
    let deletionDropped = false;
    try {
      const version = await this.deps.freeze(c.handle);
      if (!registry.replicaRefs(c.handle).some((r) => r.id === c.from)) throw new Error(`${from.addr} left the chunk while its version moved on`);
      const move = c.priority === Priority.REBALANCE;
      const bytesPerSec = move ? this.cfg.rebalanceBytesPerSec ?? this.cfg.cloneBytesPerSec : this.cfg.cloneBytesPerSec;
      deletionDropped = registry.servers.get(c.to)?.discard.delete(c.handle) ?? false;
      const minSize = this.deps.state().chunks.get(c.handle)?.sizeBytes ?? 0;
      const { size } = await this.deps.cloneChunk(c.to, { handle: c.handle, version, from: from.addr, bytesPerSec, minSize });
      deletionDropped = false;
      const now = this.deps.state().chunks.versionOf(c.handle);
      const dest = registry.servers.get(c.to);
      if (now !== version || !dest?.alive) {
        // A lease raised the version meanwhile (or the chunk is gone): this copy may lack its writes.
        dest?.discard.add(c.handle);
        log.info(`chunk ${handleName(c.handle)}: clone on ${to.addr} discarded (version ${version} -> ${now})`);
        return;
      }
      registry.addLocation(c.handle, c.to);
      // Counted like a creation: placement spreads new replicas away from a server that just took many.
      const took = registry.servers.get(c.to);
      if (took) took.recentCreations++;
      if (move) {
        // The copy is listed: the source's replica goes.
        registry.removeLocation(c.handle, c.from);
        const src = registry.servers.get(c.from);
        src?.discard.add(c.handle);
        // Until the servers' reports show this move, plans count it themselves:
        // the source's first heartbeat still counts the replica (it is deleted
        // on that heartbeat's reply), its second does not.
        if (src) this.unreported.push({ server: src.id, bytes: -size, untilHeartbeats: src.heartbeats + 2 });
        const dst = registry.servers.get(c.to);
        if (dst) this.unreported.push({ server: dst.id, bytes: size, untilHeartbeats: dst.heartbeats + 2 });
        if (this.rebalancing) {
          this.rebalancing.moved++;
          this.rebalancing.movedBytes += size;
        }
        log.info(`chunk ${handleName(c.handle)}: moved from ${from.addr} to ${to.addr} to rebalance (${size} bytes, ${Date.now() - t0} ms)`);
        return;
      }
      this.done.clones++;
      this.done.bytes += size;
      log.info(`chunk ${handleName(c.handle)}: re-replicated from ${from.addr} to ${to.addr} (${size} bytes, ${Date.now() - t0} ms)`);
    } catch (err) {
      // No copy: the replica the deletion was for may still be there.
      if (deletionDropped) registry.servers.get(c.to)?.discard.add(c.handle);
      if (err instanceof GfsError && err.code === ErrorCode.SHORT) this.deps.damaged(c.handle, c.from, err.message);
      this.done.failed++;
      log.warn(`chunk ${handleName(c.handle)}: clone from ${from.addr} to ${to.addr} failed: ${(err as Error).message}`);
    } finally {
      this.underWay.splice(this.underWay.indexOf(c), 1);
      this.dirty = true;
      // The next copies start now, not at the next tick: copies back to back keep to the budget.
      setTimeout(() => this.tick(Date.now()), 0);
    }
  }
}
