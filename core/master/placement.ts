// Where new replicas go (M8): never a server without room for a whole chunk,
// servers with below-average disk use first, fewer recent creations first (a
// new server is not flooded), and the replicas of a chunk spread over as many
// racks as there are. Pure.

export interface PlacementCandidate {
  id: string;
  rack: string;
  usedBytes: number;
  capacityBytes: number;
  /** Chunks created on this server recently (decays over time). */
  recentCreations: number;
  /** Being drained: a source for copies, never a destination. */
  draining?: boolean;
}

function utilization(c: PlacementCandidate): number {
  return c.capacityBytes > 0 ? c.usedBytes / c.capacityBytes : 0;
}

/** Whether a server's disk has `bytes` free (a server that has not reported its disk yet is given the benefit of the doubt). */
export function hasRoom(c: PlacementCandidate, bytes: number): boolean {
  return c.capacityBytes === 0 || c.capacityBytes - c.usedBytes >= bytes;
}

/** Returns up to `count` distinct server ids, best first, each with `roomBytes` free. */
export function choosePlacement(candidates: readonly PlacementCandidate[], count: number, exclude: ReadonlySet<string> = new Set(), roomBytes = 0): string[] {
  const pool = candidates.filter((c) => !exclude.has(c.id) && hasRoom(c, roomBytes));
  if (pool.length === 0 || count <= 0) return [];
  const avg = pool.reduce((s, c) => s + utilization(c), 0) / pool.length;
  // Lower is better: above-average use weighs most, then recent creations, then use.
  const score = (c: PlacementCandidate) => (utilization(c) > avg + 0.01 ? 1_000_000 : 0) + c.recentCreations * 100 + utilization(c) * 10;
  const ranked = [...pool].sort((a, b) => score(a) - score(b) || (a.id < b.id ? -1 : 1));
  const chosen: PlacementCandidate[] = [];
  const racks = new Set<string>();
  while (chosen.length < count && chosen.length < ranked.length) {
    const remaining = ranked.filter((c) => !chosen.includes(c));
    const newRack = remaining.find((c) => !racks.has(c.rack));
    const pick = newRack ?? remaining[0]!;
    chosen.push(pick);
    racks.add(pick.rack);
  }
  return chosen.map((c) => c.id);
}

/** Orders replicas for a data push, nearest first: same host, same rack, the rest. */
export function orderNearest<T extends { addr: string; rack: string }>(replicas: readonly T[], fromHost: string, fromRack: string | null): T[] {
  const rank = (r: T) => (hostOf(r.addr) === fromHost ? 0 : fromRack !== null && r.rack === fromRack ? 1 : 2);
  return [...replicas].sort((a, b) => rank(a) - rank(b));
}

export function hostOf(addr: string): string {
  const i = addr.lastIndexOf(":");
  return i < 0 ? addr : addr.slice(0, i);
}
