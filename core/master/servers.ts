// The chunk servers the master knows (C3, M4): who is alive, how full, and
// where each chunk's replicas are. Locations live only here, in memory, and
// are rebuilt from registrations after a restart. Compact: each chunk handle
// has four 16-bit slots naming servers by index (replicas beyond four go to a
// small overflow map), about 8 bytes a chunk.
import { assert } from "../../net/errors";
import type { Handle, ReplicaRef, ServerStatus } from "../../net/messages";
import type { PlacementCandidate } from "./placement";

export interface ServerRecord {
  id: string;
  /** Small number naming this server in the location slots (from 1). */
  index: number;
  addr: string;
  rack: string;
  capacityBytes: number;
  usedBytes: number;
  alive: boolean;
  lastHeartbeatMs: number;
  /** Heartbeats received since it registered (the master waits on this count for fresh disk use). */
  heartbeats: number;
  recentCreations: number;
  /** Replicas this server holds, as far as the master knows. */
  chunkCount: number;
  /** Chunks this server should delete, sent with the next heartbeat reply. */
  discard: Set<Handle>;
  /** When it was declared lost (0 while alive). */
  lostAtMs: number;
  /** An operator asked for it to be emptied (gfs drain): it serves reads, takes no new replicas, and its replicas do not count. */
  draining: boolean;
  /** Its byte counters as its last heartbeat gave them (read, written). */
  io?: { read: number; written: number };
}

const SLOTS = 4;

export class ServerRegistry {
  readonly servers = new Map<string, ServerRecord>();
  private readonly byIndex: (ServerRecord | undefined)[] = [undefined];
  private slots: Uint16Array<ArrayBuffer> = new Uint16Array(SLOTS * 1024);
  private readonly extra = new Map<Handle, number[]>();

  upsert(id: string, addr: string, rack: string, nowMs: number): ServerRecord {
    let s = this.servers.get(id);
    if (!s) {
      assert(this.byIndex.length < 0xffff, "fewer than 65535 chunk servers");
      s = { id, index: this.byIndex.length, addr, rack, capacityBytes: 0, usedBytes: 0, alive: true, lastHeartbeatMs: nowMs, heartbeats: 0, recentCreations: 0, chunkCount: 0, discard: new Set(), lostAtMs: 0, draining: false };
      this.byIndex.push(s);
      this.servers.set(id, s);
    } else {
      this.forget(s);
      s.addr = addr;
      s.rack = rack;
      s.alive = true;
      s.lostAtMs = 0;
      s.lastHeartbeatMs = nowMs;
    }
    return s;
  }

  /** Marks a server dead and forgets its replicas; returns the handles it held. */
  markDead(id: string): Handle[] {
    const s = this.servers.get(id);
    if (!s || !s.alive) return [];
    s.alive = false;
    s.lostAtMs = Date.now();
    return this.forget(s);
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
    this.ensure(handle);
    const base = handle * SLOTS;
    let free = -1;
    for (let i = 0; i < SLOTS; i++) {
      const v = this.slots[base + i]!;
      if (v === s.index) return;
      if (v === 0 && free < 0) free = i;
    }
    const more = this.extra.get(handle);
    if (more?.includes(s.index)) return;
    if (free >= 0) this.slots[base + free] = s.index;
    else if (more) more.push(s.index);
    else this.extra.set(handle, [s.index]);
    s.chunkCount++;
  }

  removeLocation(handle: Handle, serverId: string): void {
    const s = this.servers.get(serverId);
    if (!s || handle * SLOTS >= this.slots.length) return;
    if (this.clearSlot(handle, s.index)) s.chunkCount--;
  }

  /** Forgets a deleted chunk and asks every holder to discard it. */
  dropChunk(handle: Handle): void {
    for (const idx of this.holderIndexes(handle)) {
      const s = this.byIndex[idx]!;
      s.chunkCount--;
      s.discard.add(handle);
    }
    if (handle * SLOTS < this.slots.length) this.slots.fill(0, handle * SLOTS, handle * SLOTS + SLOTS);
    this.extra.delete(handle);
  }

  holders(handle: Handle): string[] {
    return this.holderIndexes(handle).map((i) => this.byIndex[i]!.id);
  }

  replicaRefs(handle: Handle): ReplicaRef[] {
    return this.holderIndexes(handle).flatMap((i) => {
      const s = this.byIndex[i]!;
      return s.alive ? [{ id: s.id, addr: s.addr, rack: s.rack }] : [];
    });
  }

  ref(id: string): ReplicaRef | undefined {
    const s = this.servers.get(id);
    return s ? { id: s.id, addr: s.addr, rack: s.rack } : undefined;
  }

  /** Live servers that may take new replicas. */
  candidates(): PlacementCandidate[] {
    return this.live().filter((c) => !c.draining);
  }

  /** Every live server, draining ones marked. */
  live(): PlacementCandidate[] {
    return [...this.servers.values()].filter((s) => s.alive).map((s) => ({ id: s.id, rack: s.rack, usedBytes: s.usedBytes, capacityBytes: s.capacityBytes, recentCreations: s.recentCreations, ...(s.draining ? { draining: true } : {}) }));
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
      chunks: s.chunkCount,
      alive: s.alive,
      lastHeartbeatMsAgo: nowMs - s.lastHeartbeatMs,
      ...(s.alive ? {} : { lostAtMs: s.lostAtMs }),
      ...(s.draining ? { draining: true } : {}),
    }));
  }

  private holderIndexes(handle: Handle): number[] {
    const out: number[] = [];
    const base = handle * SLOTS;
    if (base < this.slots.length) {
      for (let i = 0; i < SLOTS; i++) {
        const v = this.slots[base + i]!;
        if (v !== 0) out.push(v);
      }
    }
    const more = this.extra.get(handle);
    if (more) out.push(...more);
    return out;
  }

  private clearSlot(handle: Handle, index: number): boolean {
    const base = handle * SLOTS;
    for (let i = 0; i < SLOTS; i++) {
      if (this.slots[base + i] === index) {
        this.slots[base + i] = 0;
        return true;
      }
    }
    const more = this.extra.get(handle);
    const at = more ? more.indexOf(index) : -1;
    if (at < 0) return false;
    more!.splice(at, 1);
    if (more!.length === 0) this.extra.delete(handle);
    return true;
  }

  /** Removes every location of a server (a scan of the slots); returns the handles. */
  private forget(s: ServerRecord): Handle[] {
    const held: Handle[] = [];
    if (s.chunkCount > 0) {
      const slots = this.slots;
      for (let at = 0; at < slots.length; at++) {
        if (slots[at] === s.index) {
          slots[at] = 0;
          held.push(Math.floor(at / SLOTS));
        }
      }
      for (const [h, more] of this.extra) {
        const i = more.indexOf(s.index);
        if (i < 0) continue;
        more.splice(i, 1);
        if (more.length === 0) this.extra.delete(h);
        held.push(h);
      }
    }
    s.chunkCount = 0;
    return held;
  }

  private ensure(handle: Handle): void {
    const need = (handle + 1) * SLOTS;
    if (need <= this.slots.length) return;
    const bigger = new Uint16Array(Math.max(need, Math.ceil(this.slots.length / SLOTS * 1.5) * SLOTS));
    bigger.set(this.slots);
    this.slots = bigger;
  }
}
