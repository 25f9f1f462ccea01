// Chunk leases (M9): at most one primary per chunk at a time. The master grants
// a lease for `leaseMs`, extends it on the primary's request while writes
// continue, and forgets it when it expires, is revoked, or its primary dies.
// A new lease always comes with a version bump (done by the caller). Pure.
import type { Handle } from "../../net/messages";

export interface LeaseRecord {
  primary: string;
  version: number;
  expiresAtMs: number;
  /** Every replica (primary included) the lease was granted over. */
  replicas: string[];
}

export class LeaseTable {
  private readonly leases = new Map<Handle, LeaseRecord>();

  constructor(public leaseMs: number) {}

  current(handle: Handle, nowMs: number): LeaseRecord | undefined {
    const l = this.leases.get(handle);
    if (l && l.expiresAtMs <= nowMs) {
      this.leases.delete(handle);
      return undefined;
    }
    return l;
  }

  grant(handle: Handle, primary: string, version: number, nowMs: number, replicas: string[] = [primary]): LeaseRecord {
    const l = { primary, version, expiresAtMs: nowMs + this.leaseMs, replicas };
    this.leases.set(handle, l);
    return l;
  }

  /** Extends a live lease held by `primary`; false if it no longer holds one. */
  extend(handle: Handle, primary: string, nowMs: number): boolean {
    const l = this.current(handle, nowMs);
    if (!l || l.primary !== primary) return false;
    l.expiresAtMs = nowMs + this.leaseMs;
    return true;
  }

  /**
   * Whether the live lease still covers exactly servers that hold current
   * replicas: if one is gone, writes through it fail and a new lease (with a
   * new version) is needed; otherwise a client's failure was passing.
   */
  intact(handle: Handle, version: number, liveReplicas: ReadonlySet<string>, nowMs: number): boolean {
    const l = this.current(handle, nowMs);
    return !!l && l.version === version && l.replicas.every((id) => liveReplicas.has(id));
  }

  revoke(handle: Handle): void {
    this.leases.delete(handle);
  }

  /** Forgets every lease held by a server that is gone. */
  dropServer(serverId: string): Handle[] {
    const dropped: Handle[] = [];
    for (const [h, l] of this.leases) {
      if (l.primary === serverId) {
        this.leases.delete(h);
        dropped.push(h);
      }
    }
    return dropped;
  }

  /** Forgets every lease (a master that has just been elected knows none it granted). */
  clear(): void {
    this.leases.clear();
  }

  get size(): number {
    return this.leases.size;
  }
}
