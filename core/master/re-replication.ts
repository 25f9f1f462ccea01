// Re-replication (M11): which chunks to copy, from where to where. Pure: the
// master gives the chunks' health, the servers and the clones under way, and
// gets the clones to start now.
//
// Order, as HDFS orders its queues: a chunk a client waits on, then chunks
// with one replica left, then chunks missing more than a third of their
// target, then the other under-replicated ones, then chunks whose replicas
// all sit in one rack while there are others; live files before deleted ones
// within each. A chunk that cannot be placed now is skipped, never waited on,
// so one chunk never stalls the rest. Limits: clones under way in the whole
// cluster, and per server (as source or destination).
import type { Handle } from "../../net/messages";
import { hasRoom, type PlacementCandidate } from "./placement";

export interface ChunkHealth {
  handle: Handle;
  /** The replication target of its file (the highest, for a chunk shared by snapshots). */
  target: number;
  /** Live servers holding a current replica that counts (not draining). */
  holders: readonly string[];
  /** Live holders whose replicas do not count (draining): copied from, never to, never trimmed. */
  leaving?: readonly string[];
  /** Only files in the trash hold it. */
  deleted?: boolean;
  /** A client asked for it and found too few replicas. */
  wanted?: boolean;
}

export const Priority = {
  WANTED: 0,
  ONE_LEFT: 1,
  MISSING_A_THIRD: 2,
  UNDER: 3,
  ONE_RACK: 4,
  /** Not a repair: a rebalancing move (copy, then drop the source). */
  REBALANCE: 5,
} as const;
export type Priority = (typeof Priority)[keyof typeof Priority];

export interface Clone {
  handle: Handle;
  from: string;
  to: string;
  priority: Priority;
}

export interface CloneLimits {
  /** Clones under way in the whole cluster, at most. */
  maxClones: number;
  /** Clones under way per server, as source or destination, at most. */
  maxPerServer: number;
}

/**
 * How urgent copying this chunk is, or null when it has what it needs. A
 * chunk with no live replica has nothing to copy from (fsck reports it).
 */
export function repairPriority(c: ChunkHealth, rackOf: (id: string) => string | undefined, racks: number): Priority | null {
  const live = c.holders.length;
  if (live === 0 && !c.leaving?.length) return null;
  if (live < c.target) {
    if (c.wanted) return Priority.WANTED;
    if (live <= 1) return Priority.ONE_LEFT;
    if (c.target - live > c.target / 3) return Priority.MISSING_A_THIRD;
    return Priority.UNDER;
  }
  if (live === c.target && c.target > 1 && racks > 1 && new Set(c.holders.map(rackOf)).size === 1) return Priority.ONE_RACK;
  return null;
}

/**
 * The clones to start now, most urgent first, within the limits given the
 * clones already under way. Each goes from the least busy holder to the best
 * server by the creation rules (room for a chunk, disk use, recent
 * creations), in a rack the chunk is not in yet when there is one.
 */
export function planClones(
  chunks: Iterable<ChunkHealth>,
  servers: readonly PlacementCandidate[],
  underWay: readonly Clone[],
  limits: CloneLimits,
  chunkBytes: number,
): Clone[] {
  const rack = new Map(servers.map((s) => [s.id, s.rack]));
  const racks = new Set(servers.filter((s) => !s.draining).map((s) => s.rack)).size;
  const busy = new Map<string, number>();
  const cloning = new Set<Handle>();
  for (const c of underWay) {
    busy.set(c.from, (busy.get(c.from) ?? 0) + 1);
    busy.set(c.to, (busy.get(c.to) ?? 0) + 1);
    cloning.add(c.handle);
  }
  let room = limits.maxClones - underWay.length;
  if (room <= 0) return [];

  const queue: { c: ChunkHealth; p: Priority }[] = [];
  for (const c of chunks) {
    if (cloning.has(c.handle)) continue;
    const p = repairPriority(c, (id) => rack.get(id), racks);
    if (p !== null) queue.push({ c, p });
  }
  queue.sort((a, b) => a.p - b.p || Number(!!a.c.deleted) - Number(!!b.c.deleted) || a.c.handle - b.c.handle);

  const free = (id: string) => (busy.get(id) ?? 0) < limits.maxPerServer;
  const out: Clone[] = [];
  for (const { c, p } of queue) {
    if (room === 0) break;
    const sources = [...c.holders, ...(c.leaving ?? [])].filter((id) => rack.has(id) && free(id));
    if (sources.length === 0) continue;
    const from = sources.reduce((a, b) => ((busy.get(b) ?? 0) < (busy.get(a) ?? 0) ? b : a));
    const to = chooseDestination(c, servers, free, chunkBytes, p === Priority.ONE_RACK);
    if (to === undefined) continue;
    out.push({ handle: c.handle, from, to, priority: p });
    busy.set(from, (busy.get(from) ?? 0) + 1);
    busy.set(to, (busy.get(to) ?? 0) + 1);
    room--;
  }
  return out;
}

function chooseDestination(c: ChunkHealth, servers: readonly PlacementCandidate[], free: (id: string) => boolean, chunkBytes: number, newRackOnly: boolean): string | undefined {
  const holders = new Set([...c.holders, ...(c.leaving ?? [])]);
  const usedRacks = new Set(servers.filter((s) => holders.has(s.id)).map((s) => s.rack));
  const pool = servers.filter((s) => !s.draining && !holders.has(s.id) && free(s.id) && hasRoom(s, chunkBytes) && !(newRackOnly && usedRacks.has(s.rack)));
  if (pool.length === 0) return undefined;
  const utilization = (s: PlacementCandidate) => (s.capacityBytes > 0 ? s.usedBytes / s.capacityBytes : 0);
  // A new rack first; then fewer recent creations, then lower disk use.
  const score = (s: PlacementCandidate) => (usedRacks.has(s.rack) ? 1_000_000 : 0) + s.recentCreations * 100 + utilization(s) * 10;
  return pool.reduce((a, b) => (score(b) < score(a) || (score(b) === score(a) && b.id < a.id) ? b : a)).id;
}

/**
 * Replicas beyond a chunk's target to delete (setrep lowered, or a clone that
 * spread a one-rack chunk): one from the rack holding the most replicas, on
 * the fullest disk there, so the racks covered never shrink. Chunks under a
 * live lease are left for later.
 */
export function planSurplus(chunks: Iterable<ChunkHealth & { leased?: boolean }>, servers: readonly PlacementCandidate[]): { handle: Handle; server: string }[] {
  const byId = new Map(servers.map((s) => [s.id, s]));
  const out: { handle: Handle; server: string }[] = [];
  for (const c of chunks) {
    if (c.leased || c.target < 1) continue;
    const holders = c.holders.filter((id) => byId.has(id)).map((id) => byId.get(id)!);
    let extra = holders.length - c.target;
    while (extra-- > 0) {
      const perRack = new Map<string, number>();
      for (const h of holders) perRack.set(h.rack, (perRack.get(h.rack) ?? 0) + 1);
      const utilization = (s: PlacementCandidate) => (s.capacityBytes > 0 ? s.usedBytes / s.capacityBytes : 0);
      const victim = holders.reduce((a, b) => {
        const ra = perRack.get(a.rack)!;
        const rb = perRack.get(b.rack)!;
        return rb > ra || (rb === ra && (utilization(b) > utilization(a) || (utilization(b) === utilization(a) && b.id > a.id))) ? b : a;
      });
      out.push({ handle: c.handle, server: victim.id });
      holders.splice(holders.indexOf(victim), 1);
    }
  }
  return out;
}

/** A replica to move: copied to `to`, then dropped from `from`. */
export interface Move {
  handle: Handle;
  from: string;
  to: string;
}

export interface RebalanceChunk {
  handle: Handle;
  sizeBytes: number;
  /** Live servers holding a current replica. */
  holders: readonly string[];
}

function utilizationOf(s: PlacementCandidate): number {
  return s.capacityBytes > 0 ? s.usedBytes / s.capacityBytes : 0;
}

/**
 * Rebalancing (M12): moves replicas from the fullest servers to the emptiest
 * until every server's disk use is within `thresholdPct` percentage points of
 * the average, or `maxMoves` are planned. A server above the threshold gives
 * to any server below the average; a server below the threshold takes from
 * any server above the average (as HDFS's balancer pairs them). A move never
 * puts two replicas of a chunk on one server and never lowers the number of
 * racks a chunk spans. Use is simulated as moves are planned, so the plan
 * does not overshoot.
 */
export function planRebalance(servers: readonly PlacementCandidate[], chunksOn: (id: string) => Iterable<RebalanceChunk>, thresholdPct: number, maxMoves: number, busy: ReadonlySet<Handle> = new Set()): Move[] {
  const pool = servers.filter((s) => !s.draining && s.capacityBytes > 0).map((s) => ({ ...s }));
  if (pool.length < 2 || maxMoves <= 0) return [];
  const avg = pool.reduce((a, s) => a + utilizationOf(s), 0) / pool.length;
  const t = thresholdPct / 100;
  const byId = new Map(pool.map((s) => [s.id, s]));
  const moves: Move[] = [];
  const moved = new Set<Handle>(busy);
  const exhausted = new Set<string>(); // "from>to" pairs with nothing left to move
  while (moves.length < maxMoves) {
    const under = pool.some((s) => utilizationOf(s) < avg - t);
    const givers = pool.filter((s) => utilizationOf(s) > avg + t || (under && utilizationOf(s) > avg)).sort((a, b) => utilizationOf(b) - utilizationOf(a));
    const over = pool.some((s) => utilizationOf(s) > avg + t);
    const takers = pool.filter((s) => utilizationOf(s) < avg - t || (over && utilizationOf(s) < avg)).sort((a, b) => utilizationOf(a) - utilizationOf(b));
    let planned = false;
    for (const src of givers) {
      for (const dst of takers) {
        if (dst.id === src.id || exhausted.has(`${src.id}>${dst.id}`)) continue;
        const c = pickChunk(src, dst, chunksOn(src.id), moved, byId);
        if (!c) {
          exhausted.add(`${src.id}>${dst.id}`);
          continue;
        }
        moves.push({ handle: c.handle, from: src.id, to: dst.id });
        moved.add(c.handle);
        src.usedBytes -= c.sizeBytes;
        dst.usedBytes += c.sizeBytes;
        planned = true;
        break;
      }
      if (planned) break;
    }
    if (!planned) break;
  }
  return moves;
}

function pickChunk(src: PlacementCandidate, dst: PlacementCandidate, chunks: Iterable<RebalanceChunk>, moved: ReadonlySet<Handle>, byId: ReadonlyMap<string, PlacementCandidate>): RebalanceChunk | undefined {
  for (const c of chunks) {
    if (moved.has(c.handle) || c.sizeBytes === 0 || c.holders.includes(dst.id) || dst.capacityBytes - dst.usedBytes < c.sizeBytes) continue;
    const otherRacks = new Set(c.holders.filter((id) => id !== src.id).map((id) => byId.get(id)?.rack));
    // The racks the chunk spans do not shrink: same rack, a new rack, or the source's rack stays covered.
    if (dst.rack === src.rack || !otherRacks.has(dst.rack) || otherRacks.has(src.rack)) return c;
  }
  return undefined;
}

/** A change of a server's disk use that its reports do not show yet: a move under way or just done. */
export interface UseChange {
  server: string;
  bytes: number;
}

/**
 * Servers with their disk use as it will be once the changes the master
 * knows of show in their reports, so that moves are planned while others
 * are still under way without planning the same space twice.
 */
export function projectUse(servers: readonly PlacementCandidate[], changes: Iterable<UseChange>): PlacementCandidate[] {
  const delta = new Map<string, number>();
  for (const c of changes) delta.set(c.server, (delta.get(c.server) ?? 0) + c.bytes);
  return servers.map((s) => (delta.has(s.id) ? { ...s, usedBytes: Math.max(0, s.usedBytes + delta.get(s.id)!) } : s));
}

/** The largest distance of any server's disk use from the average, in percentage points. */
export function imbalancePct(servers: readonly PlacementCandidate[]): number {
  const pool = servers.filter((s) => !s.draining && s.capacityBytes > 0);
  if (pool.length === 0) return 0;
  const avg = pool.reduce((a, s) => a + utilizationOf(s), 0) / pool.length;
  return Math.max(...pool.map((s) => Math.abs(utilizationOf(s) - avg))) * 100;
}
