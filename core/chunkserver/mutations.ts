// Mutation order for one chunk server (D2). As primary it holds leases granted
// by the master and assigns consecutive serial numbers per chunk; as secondary
// it accepts a chunk's mutations only in increasing serial order within one
// lease epoch (chunk version). Pure: time is passed in.
import { ErrorCode, GfsError, assert } from "../../net/errors";
import type { Handle, ReplicaRef } from "../../net/messages";
import { handleName } from "../handles";

export interface Lease {
  version: number;
  expiresAtMs: number;
  secondaries: ReplicaRef[];
  /** The master's token for this lease, shown to the secondaries with every mutation. */
  token: Uint8Array;
  nextSerial: number;
  /** Where the next record append goes; starts at the chunk's length here. */
  appendEnd: number;
  /** The end of the furthest write (not append) ordered under this lease. */
  writeEnd: number;
  /** Set when a mutation ran since the last extension request. */
  active: boolean;
  /** Mutations decided and not yet settled (on slow links they take long: the lease must last). */
  inFlight: number;
}

export type AppendDecision =
  | { kind: "append"; offset: number; serial: number; secondaries: ReplicaRef[]; token: Uint8Array }
  | { kind: "pad"; offset: number; padBytes: number; serial: number; secondaries: ReplicaRef[]; token: Uint8Array }
  | { kind: "full" };

/** Part of the lease kept back against clock drift between master and primary. */
export function leaseMarginMs(leaseMs: number): number {
  return Math.min(2_000, Math.floor(leaseMs / 10));
}

function notPrimary(handle: Handle, l: Lease | undefined, nowMs: number): GfsError {
  const why = l ? `its lease ran out ${nowMs - l.expiresAtMs} ms ago` : "no lease";
  return new GfsError(ErrorCode.NOT_PRIMARY, `not the primary of chunk ${handleName(handle)} here: ${why}`);
}

export class MutationOrder {
  private readonly leases = new Map<Handle, Lease>();
  private readonly lastApplied = new Map<Handle, { version: number; serial: number }>();

  grantLease(handle: Handle, version: number, leaseMs: number, secondaries: ReplicaRef[], nowMs: number, chunkBytes = 0, token: Uint8Array = new Uint8Array(0)): void {
    this.leases.set(handle, { version, expiresAtMs: nowMs + leaseMs - leaseMarginMs(leaseMs), secondaries, token, nextSerial: 1, appendEnd: chunkBytes, writeEnd: chunkBytes, active: false, inFlight: 0 });
  }

  /** A version change ends any lease held under an older version. */
  versionChanged(handle: Handle, version: number): void {
    const l = this.leases.get(handle);
    if (l && l.version !== version) this.leases.delete(handle);
    this.lastApplied.delete(handle);
  }

  extend(handle: Handle, leaseMs: number, nowMs: number): void {
    const l = this.leases.get(handle);
    if (l) l.expiresAtMs = nowMs + leaseMs - leaseMarginMs(leaseMs);
  }

  dropLease(handle: Handle): void {
    this.leases.delete(handle);
  }

  /** Checks this server is primary for `handle` at `version`; returns the next serial. */
  beginPrimary(handle: Handle, version: number, nowMs: number, endOffset = 0): { serial: number; secondaries: ReplicaRef[]; token: Uint8Array } {
    const l = this.leases.get(handle);
    if (!l || l.expiresAtMs <= nowMs) throw notPrimary(handle, l, nowMs);
    if (l.version !== version) throw new GfsError(ErrorCode.STALE, `chunk ${handleName(handle)} is at version ${l.version}, request says ${version}`);
    l.active = true;
    l.inFlight++;
    l.appendEnd = Math.max(l.appendEnd, endOffset); // appends never land on written bytes
    l.writeEnd = Math.max(l.writeEnd, endOffset);
    const serial = l.nextSerial++;
    return { serial, secondaries: l.secondaries, token: l.token };
  }

  /**
   * The primary's record append decision (D3): a record that fits goes at the
   * current end; one that does not closes the chunk with padding (once) and
   * the client moves to the next chunk.
   */
  decideAppend(handle: Handle, version: number, sizeBytes: number, chunkSizeBytes: number, nowMs: number): AppendDecision {
    const l = this.leases.get(handle);
    if (!l || l.expiresAtMs <= nowMs) throw notPrimary(handle, l, nowMs);
    if (l.version !== version) throw new GfsError(ErrorCode.STALE, `chunk ${handleName(handle)} is at version ${l.version}, request says ${version}`);
    assert(l.appendEnd <= chunkSizeBytes, "appends stay inside the chunk");
    if (l.appendEnd + sizeBytes <= chunkSizeBytes) {
      const offset = l.appendEnd;
      l.appendEnd += sizeBytes;
      l.active = true;
      l.inFlight++;
      return { kind: "append", offset, serial: l.nextSerial++, secondaries: l.secondaries, token: l.token };
    }
    if (l.appendEnd === chunkSizeBytes) return { kind: "full" };
    const offset = l.appendEnd;
    l.appendEnd = chunkSizeBytes;
    l.active = true;
    l.inFlight++;
    return { kind: "pad", offset, padBytes: chunkSizeBytes - offset, serial: l.nextSerial++, secondaries: l.secondaries, token: l.token };
  }

  /**
   * The pad decided at `offset` failed on some replica: the chunk is not
   * closed, and the next append decides again (pads again, or fits there).
   * Until a pad succeeds no append may be told the chunk is full: the client
   * would move on, and the master take the chunk as holding every byte.
   */
  padFailed(handle: Handle, version: number, offset: number): void {
    const l = this.leases.get(handle);
    if (l && l.version === version && l.appendEnd > offset) l.appendEnd = Math.max(offset, l.writeEnd);
  }

  /** Secondary side: serials must increase within a version; gaps are allowed (failed mutations). */
  acceptSerial(handle: Handle, version: number, serial: number): void {
    const last = this.lastApplied.get(handle);
    if (last && last.version === version) {
      if (serial <= last.serial) {
        throw new GfsError(ErrorCode.INVALID_ARGUMENT, `chunk ${handleName(handle)}: serial ${serial} arrived after ${last.serial}`);
      }
    }
    assert(serial > 0, "serial numbers start at 1");
    this.lastApplied.set(handle, { version, serial });
  }

  /** Data for a mutation of `handle` is arriving: the lease is in use (extended at the next heartbeat). */
  touch(handle: Handle): void {
    const l = this.leases.get(handle);
    if (l) l.active = true;
  }

  /** A mutation begun with beginPrimary or decideAppend (append or pad) has succeeded or failed. */
  settled(handle: Handle, version: number): void {
    const l = this.leases.get(handle);
    if (l && l.version === version && l.inFlight > 0) l.inFlight--;
  }

  /** Leases with writes since the last call or still in flight, for the next heartbeat. */
  takeActive(): Handle[] {
    const out: Handle[] = [];
    for (const [h, l] of this.leases) {
      if (l.active || l.inFlight > 0) {
        out.push(h);
        l.active = false;
      }
    }
    return out;
  }

  /** Secondaries of a live lease held here, or none. */
  secondariesOf(handle: Handle, nowMs: number): ReplicaRef[] {
    const l = this.leases.get(handle);
    return l && l.expiresAtMs > nowMs ? l.secondaries : [];
  }
}
