// The chunk servers the master knows (C3, M4): who is alive, how full, and
// which chunks each holds. Locations live only here, in memory; they are
// rebuilt from registrations after a restart.
import type { Handle, ReplicaRef, ServerStatus } from "../../net/messages";
import type { PlacementCandidate } from "./placement";

export interface ServerRecord {
  id: string;
  addr: string;
  rack: string;
  capacityBytes: number;
  usedBytes: number;
  alive: boolean;
  lastHeartbeatMs: number;
  recentCreations: number;
  chunks: Set<Handle>;
  /** Chunks this server should delete, sent with the next heartbeat reply. */
  discard: Set<Handle>;
}

export class ServerRegistry {
  readonly servers = new Map<string, ServerRecord>();
  /** handle -> ids of servers holding a current replica. */
  private readonly locations = new Map<Handle, string[]>();

  upsert(id: string, addr: string, rack: string, nowMs: number): ServerRecord {
    let s = this.servers.get(id);
    if (!s) {
      s = { id, addr, rack, capacityBytes: 0, usedBytes: 0, alive: true, lastHeartbeatMs: nowMs, recentCreations: 0, chunks: new Set(), discard: new Set() };
      this.servers.set(id, s);
    } else {
      this.forgetChunks(s);
      s.addr = addr;
      s.rack = rack;
      s.alive = true;
      s.lastHeartbeatMs = nowMs;
    }
    return s;
  }

  /** Marks a server dead and forgets its replicas; returns the handles it held. */
  markDead(id: string): Handle[] {
    const s = this.servers.get(id);
    if (!s || !s.alive) return [];
    s.alive = false;
    const held = [...s.chunks];
    this.forgetChunks(s);
    return held;
  }

  /** Servers whose last heartbeat is older than `deadAfterMs`. */
  silent(nowMs: number, deadAfterMs: number): string[] {
    const out: string[] = [];
    for (const s of this.servers.values()) if (s.alive && nowMs - s.lastHeartbeatMs > deadAfterMs) out.push(s.id);
    return out;
  }

  addLocation(handle: Handle, serverId: string): void {
    const s = this.servers.get(serverId);
    if (!s || !s.alive) return;
    const locs = this.locations.get(handle);
    if (!locs) this.locations.set(handle, [serverId]);
    else if (!locs.includes(serverId)) locs.push(serverId);
    s.chunks.add(handle);
  }

  removeLocation(handle: Handle, serverId: string): void {
    const locs = this.locations.get(handle);
    if (locs) {
      const i = locs.indexOf(serverId);
      if (i >= 0) locs.splice(i, 1);
      if (locs.length === 0) this.locations.delete(handle);
    }
    this.servers.get(serverId)?.chunks.delete(handle);
  }

  /** Forgets a deleted chunk and asks every holder to discard it. */
  dropChunk(handle: Handle): void {
    for (const id of this.locations.get(handle) ?? []) {
      const s = this.servers.get(id);
      if (s) {
        s.chunks.delete(handle);
        s.discard.add(handle);
      }
    }
    this.locations.delete(handle);
  }

  holders(handle: Handle): string[] {
    return this.locations.get(handle) ?? [];
  }

  replicaRefs(handle: Handle): ReplicaRef[] {
    return this.holders(handle).flatMap((id) => {
      const s = this.servers.get(id);
      return s && s.alive ? [{ id: s.id, addr: s.addr, rack: s.rack }] : [];
    });
  }

  ref(id: string): ReplicaRef | undefined {
    const s = this.servers.get(id);
    return s ? { id: s.id, addr: s.addr, rack: s.rack } : undefined;
  }

  candidates(): PlacementCandidate[] {
    return [...this.servers.values()].filter((s) => s.alive).map((s) => ({ id: s.id, rack: s.rack, usedBytes: s.usedBytes, capacityBytes: s.capacityBytes, recentCreations: s.recentCreations }));
  }

  /** Recent-creation counts fade so that a server is only briefly avoided. */
  decayCreations(factor: number): void {
    for (const s of this.servers.values()) s.recentCreations *= factor;
  }

  status(nowMs: number): ServerStatus[] {
    return [...this.servers.values()].map((s) => ({
      id: s.id,
      addr: s.addr,
      rack: s.rack,
      capacityBytes: s.capacityBytes,
      usedBytes: s.usedBytes,
      chunks: s.chunks.size,
      alive: s.alive,
      lastHeartbeatMsAgo: nowMs - s.lastHeartbeatMs,
    }));
  }

  private forgetChunks(s: ServerRecord): void {
    for (const h of s.chunks) {
      const locs = this.locations.get(h);
      if (!locs) continue;
      const i = locs.indexOf(s.id);
      if (i >= 0) locs.splice(i, 1);
      if (locs.length === 0) this.locations.delete(h);
    }
    s.chunks.clear();
  }
}
