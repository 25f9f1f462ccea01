// Chunk versions (M9, M10): which replica a master may list, and which version
// a new lease gets. Pure.
//
// Every lease, a chunk's first included, raises the version on the replicas
// that take part, so a replica that missed a creation, a version change or a
// mutation is behind by construction. The master raises the version on the
// replicas before it logs it, so after a crash in between some replicas may
// be ahead of the log. Such a replica is current: no lease was handed out at
// a version not yet logged (the lease is given only after the log write), so
// its bytes are those of the logged version.
//
// How far ahead is bounded by the chunk's ceiling: the highest version that
// may have been sent to a replica, kept in the log. It is the logged version
// plus one, unless a raise logged a higher one first. Within one run, the
// raise after a logged version sends that version plus one, which no replica
// can have been sent before. The first raise of a chunk in a run (an earlier
// run may have sent its ceiling and crashed) goes one past the ceiling, and
// logs that new ceiling before any replica is sent it: a replica of an
// unlogged version can then never pass for one of a new lease, and a replica
// at or below the ceiling is always recognized as current.

export type ReplicaVerdict =
  /** At the master's version, or ahead of it up to the ceiling (raised, not yet logged): list it. */
  | "current"
  /** Behind the master's version: it missed a change; delete it. */
  | "stale"
  /** Above the ceiling, which no crash explains (damaged or forged metadata): keep it off the list, keep it on disk, report it. */
  | "unexplained";

/** @param ceiling the highest version any replica may have been sent (ChunkTable.ceilingOf: at least the master's version plus one). */
export function judgeReplica(masterVersion: number, replicaVersion: number, ceiling: number): ReplicaVerdict {
  if (replicaVersion < masterVersion) return "stale";
  if (replicaVersion <= Math.max(ceiling, masterVersion + 1)) return "current";
  return "unexplained";
}

/**
 * The version a raise sends. `unsentThisRun`: this run logged the chunk's
 * version (or created it) and has sent no raise since, so the version after
 * it reached no replica yet. Otherwise it goes past the ceiling, and the new
 * ceiling must be logged before any replica is sent it (`logCeiling`).
 */
export function nextVersion(masterVersion: number, ceiling: number, unsentThisRun: boolean): { version: number; logCeiling: boolean } {
  const bound = Math.max(ceiling, masterVersion + 1);
  if (unsentThisRun && bound === masterVersion + 1) return { version: masterVersion + 1, logCeiling: false };
  return { version: bound + 1, logCeiling: true };
}

/** One bit per chunk handle (handles are dense): the master's set of chunks whose next version no replica has been sent in this run. */
export class HandleBits {
  private bits: Uint8Array<ArrayBuffer> = new Uint8Array(1024);

  has(handle: number): boolean {
    const i = handle >>> 3;
    return i < this.bits.length && (this.bits[i]! & (1 << (handle & 7))) !== 0;
  }

  clear(): void {
    this.bits = new Uint8Array(1024);
  }

  add(handle: number): void {
    const i = handle >>> 3;
    if (i >= this.bits.length) {
      const bigger = new Uint8Array(Math.max(i + 1, this.bits.length * 2));
      bigger.set(this.bits);
      this.bits = bigger;
    }
    this.bits[i]! |= 1 << (handle & 7);
  }

  delete(handle: number): void {
    const i = handle >>> 3;
    if (i < this.bits.length) this.bits[i]! &= ~(1 << (handle & 7));
  }
}

/**
 * Replicas a chunk server listed that the master does not want (they go back
 * in `discard`): chunks it no longer has, and replicas left behind by a newer
 * version. A handle being created or copied right now is not in the table
 * yet, and is left alone.
 */
export function unwantedReplicas(listed: Iterable<{ handle: number; version: number }>, versionOf: (h: number) => number, creating: ReadonlySet<number>, ceilingOf: (h: number) => number): number[] {
  const out: number[] = [];
  for (const r of listed) {
    if (creating.has(r.handle)) continue;
    const version = versionOf(r.handle);
    if (version === 0 || judgeReplica(version, r.version, ceilingOf(r.handle)) === "stale") out.push(r.handle);
  }
  return out;
}

/** What becomes of a replica behind the master's version (see staleFate). */
export type StaleFate = "adopt" | "keep" | "discard";

/**
 * A replica behind the master's version missed a change, and is normally
 * deleted. But when the versions raised since were raised only to copy the
 * chunk (no byte changed since `unchangedSince`, the chunk's last lease), a
 * replica at or above that version holding every acknowledged byte is as good
 * as a current one: it is adopted (moved to the current version and listed)
 * while the chunk has fewer live current replicas than its target, rather
 * than deleted and copied again. Counting on the live ones alone is not safe:
 * one of them may be damaged in a way nobody has read yet. Any other stale
 * replica is deleted while a current one is live, and otherwise kept on its
 * disk, unlisted (it may be the last copy).
 * @param unchangedSince the last lease's version, when the version was raised since only to copy the chunk; undefined when unknown.
 */
export function staleFate(liveCurrent: number, target: number, replicaVersion: number, unchangedSince: number | undefined, replicaSize: number, acknowledgedSize: number): StaleFate {
  if (liveCurrent >= target) return "discard";
  if (unchangedSince !== undefined && replicaVersion >= unchangedSince && replicaSize >= acknowledgedSize) return "adopt";
  return liveCurrent > 0 ? "discard" : "keep";
}

/** Per chunk handle, a version or nothing, in 4 bytes a handle (handles are dense): the master's unchangedSince. */
export class VersionByHandle {
  private slots: Uint32Array<ArrayBuffer> = new Uint32Array(1024);

  get(handle: number): number | undefined {
    const v = handle < this.slots.length ? this.slots[handle]! : 0;
    return v === 0 ? undefined : v - 1;
  }

  has(handle: number): boolean {
    return this.get(handle) !== undefined;
  }

  set(handle: number, version: number): void {
    if (handle >= this.slots.length) {
      const bigger = new Uint32Array(Math.max(handle + 1, this.slots.length * 2));
      bigger.set(this.slots);
      this.slots = bigger;
    }
    this.slots[handle] = version + 1;
  }

  delete(handle: number): void {
    if (handle < this.slots.length) this.slots[handle] = 0;
  }
}
