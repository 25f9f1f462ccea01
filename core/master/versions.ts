// Chunk versions (M9, M10): which replica a master may list, and which version
// a new lease gets. Pure.
//
// Every lease, a chunk's first included, raises the version on the replicas
// that take part, so a replica that missed a creation, a version change or a
// mutation is behind by construction. The master raises the version on the
// replicas before it logs it, so after a crash in between some replicas may
// be one version ahead of the log. Such a replica is current: no lease was
// handed out at that version (the lease is given only after the log write),
// so its bytes are those of the logged version. To make sure no replica of
// that unlogged version can later pass for one of a new lease, the first
// version change of a chunk after the master starts skips one number.

export type ReplicaVerdict =
  /** At the master's version (or one ahead, unlogged): list it. */
  | "current"
  /** Behind the master's version: it missed a change; delete it. */
  | "stale"
  /** Ahead in a way no crash explains (damaged or forged metadata): keep it off the list, keep it on disk, report it. */
  | "unexplained";

export function judgeReplica(masterVersion: number, replicaVersion: number, raisedThisRun: boolean): ReplicaVerdict {
  if (replicaVersion < masterVersion) return "stale";
  if (replicaVersion === masterVersion) return "current";
  if (replicaVersion === masterVersion + 1 && !raisedThisRun) return "current";
  return "unexplained";
}

/** The version a new lease gets. */
export function nextVersion(masterVersion: number, raisedThisRun: boolean): number {
  return masterVersion + (raisedThisRun ? 1 : 2);
}

/** One bit per chunk handle: whether this master run has raised its version. */
export class RaisedVersions {
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
}

/**
 * Replicas a chunk server listed that the master does not want (they go back
 * in `discard`): chunks it no longer has, and replicas left behind by a newer
 * version. A handle being created or copied right now is not in the table
 * yet, and is left alone.
 */
export function unwantedReplicas(listed: Iterable<{ handle: number; version: number }>, versionOf: (h: number) => number, creating: ReadonlySet<number>, raisedThisRun: (h: number) => boolean): number[] {
  const out: number[] = [];
  for (const r of listed) {
    if (creating.has(r.handle)) continue;
    const version = versionOf(r.handle);
    if (version === 0 || judgeReplica(version, r.version, raisedThisRun(r.handle)) === "stale") out.push(r.handle);
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
