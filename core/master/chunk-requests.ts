// The master's chunk requests (M8, M9, M10): chunk creation and handles,
// leases and the version raise before each, copy-on-write after a snapshot,
// stale replicas adopted, damaged ones dropped, and the commands sent to chunk
// servers. Decisions live in versions.ts, leases.ts and placement.ts.
import { ErrorCode, GfsError } from "../../net/errors";
import type { Handle, LeaseGrant, ReplicaRef, ReqBody, RepBody } from "../../net/messages";
import type { LeaseRecord } from "./leases";
import { normalizePath } from "./paths";
import { choosePlacement } from "./placement";
import type { ServerRecord } from "./servers";
import { HandleBits, VersionByHandle, nextVersion, staleFate } from "./versions";
import { handleName } from "../handles";
import { signLease, tokenKey } from "../lease-tokens";
import type { MasterContext } from "./context";

/** Handles reserved in the log at once. */
const HANDLE_BATCH = 4096;
const CHUNKSERVER_CALL_MS = 10_000;

export class ChunkRequests {
  /** Signs lease tokens (core/lease-tokens.ts); sent to chunk servers of a cluster without a secret. */
  readonly tokenKey: Uint8Array;

  constructor(private readonly m: MasterContext) {
    this.tokenKey = tokenKey(m.cfg.secret);
  }

  /**
   * After a start or on becoming the leader: handles restart above the
   * reserved limit (a previous leader may have used those below), and no
   * chunk's next version counts as unsent any more (versions.ts).
   */
  newTerm(): void {
    this.nextHandle = this.m.state.handleLimit;
    this.unsent.clear();
  }

  async lease(b: ReqBody<"lease">): Promise<LeaseGrant> {
    const path = normalizePath(b.path);
    const count = this.m.state.ns.chunkCount(this.m.state.getFile(path));
    if (!Number.isInteger(b.index) || b.index < 0 || b.index > count) {
      throw new GfsError(ErrorCode.INVALID_ARGUMENT, `chunk index ${b.index} is past the end of ${path} (${count} chunks)`);
    }
    if (b.index === count) {
      const created = await this.m.locked(`file:${path}`, () => this.addChunk(path, b.index));
      if (created) return created;
    }
    const handle = await this.m.locked(`file:${path}`, () => this.ownChunk(path, b.index));
    return this.m.locked(`chunk:${handle}`, () => this.grantLease(handle, b.index, b.renew === true));
  }

  /**
   * A lease on the file's last chunk for record append (D3). An empty file
   * gets its first chunk; `full` naming the last chunk (its primary padded
   * it) adds the next one. Concurrent appenders that all found the chunk full
   * get the one new chunk.
   */
  async appendLease(b: ReqBody<"appendLease">): Promise<LeaseGrant> {
    const path = normalizePath(b.path);
    const count = this.m.state.ns.chunkCount(this.m.state.getFile(path));
    if (count === 0 || b.full === count - 1) {
      if (count > 0) this.m.state.chunks.raiseSize(this.m.state.ns.chunkAt(this.m.state.getFile(path), count - 1), this.m.state.params.chunkSizeBytes);
      const created = await this.m.locked(`file:${path}`, () => this.addChunk(path, count));
      if (created) return created;
    }
    const last = this.m.state.ns.chunkCount(this.m.state.getFile(path)) - 1;
    const handle = await this.m.locked(`file:${path}`, () => this.ownChunk(path, last));
    return this.m.locked(`chunk:${handle}`, () => this.grantLease(handle, last, b.renew === true));
  }

  /**
   * The handle of chunk `index` of `path` that this file alone refers to. A
   * chunk shared with a snapshot is first copied (M15): every server holding
   * a current replica copies it locally to a new handle (no network copy),
   * and the file takes the copy.
   */
  private async ownChunk(path: string, index: number): Promise<Handle> {
    const f = this.m.state.getFile(path);
    const shared = this.m.state.ns.chunkAt(f, index);
    const info = this.m.state.chunks.get(shared);
    if (!info || info.refs <= 1) return shared;
    const holders = this.m.registry.replicaRefs(shared);
    if (holders.length === 0) throw new GfsError(ErrorCode.NO_REPLICA, `no live replica of chunk ${handleName(shared)} to copy`);
    const copy = await this.allocateHandle();
    this.creating.add(copy);
    let copied: ReplicaRef[];
    try {
      const results = await Promise.allSettled(holders.map((h) => this.callServer(h.id, "copyChunk", { from: shared, to: copy, version: info.version })));
      copied = holders.filter((_, i) => results[i]!.status === "fulfilled");
      if (copied.length === 0) throw new GfsError(ErrorCode.NO_REPLICA, `no server could copy chunk ${handleName(shared)}`);
      await this.m.commit({ o: "cow", p: path, i: index, h: copy, v: info.version });
    } finally {
      this.creating.delete(copy);
    }
    for (const h of copied) this.m.registry.addLocation(copy, h.id);
    this.unsent.add(copy); // a new handle: no replica was ever sent a version of it past the copy's
    this.m.log.info(`chunk ${handleName(shared)} of ${path}[${index}] is shared: copied to chunk ${handleName(copy)} on ${copied.map((h) => h.addr).join(", ")}`);
    return copy;
  }

  /** Ends a lease: the primary is told; if it cannot be, the lease is waited out. */
  async revokeLease(handle: Handle): Promise<void> {
    const l = this.m.leases.current(handle, Date.now());
    if (!l) return;
    try {
      await this.callServer(l.primary, "revokeLease", { handle });
    } catch {
      const waitMs = l.expiresAtMs - Date.now();
      if (waitMs > 0) {
        this.m.log.info(`chunk ${handleName(handle)}: primary unreachable; waiting ${waitMs} ms for its lease to run out`);
        await new Promise((r) => setTimeout(r, waitMs));
      }
    }
    this.m.leases.revoke(handle);
  }

  /** Creates chunk `index` of `path` unless another request did; returns its first lease. */
  private async addChunk(path: string, index: number): Promise<LeaseGrant | null> {
    const f = this.m.state.getFile(path);
    if (this.m.state.ns.chunkCount(f) !== index) return null;
    const replication = this.m.state.ns.replicationOf(f);
    const handle = await this.allocateHandle();
    this.creating.add(handle);
    try {
      return await this.createChunkOn(path, index, handle, replication);
    } finally {
      this.creating.delete(handle);
    }
  }

  private async createChunkOn(path: string, index: number, handle: Handle, replication: number): Promise<LeaseGrant> {
    const tried = new Set<string>();
    const created: string[] = [];
    while (created.length < replication) {
      const picks = choosePlacement(this.m.registry.candidates(), replication - created.length, new Set([...tried, ...created]), this.m.state.params.chunkSizeBytes);
      if (picks.length === 0) break;
      const results = await Promise.allSettled(picks.map((id) => this.callServer(id, "createChunk", { handle, version: 1 })));
      results.forEach((r, i) => {
        const id = picks[i]!;
        tried.add(id);
        if (r.status === "fulfilled") created.push(id);
        else this.m.log.warn(`chunk ${handleName(handle)}: create on ${this.m.registry.ref(id)?.addr ?? id} failed: ${(r.reason as Error).message}`);
      });
    }
    if (created.length === 0) throw new GfsError(ErrorCode.NO_SERVERS, "no chunk server is available to hold a new chunk");
    if (created.length < replication) this.m.repairs.changed();
    await this.m.commit({ o: "chunk", p: path, h: handle, v: 1 });
    for (const id of created) {
      this.m.registry.addLocation(handle, id);
      const s = this.m.registry.servers.get(id);
      if (s) s.recentCreations++;
    }
    // Created in this run: no earlier run can have sent any version of it.
    this.unsent.add(handle);
    this.m.log.debug(`chunk ${handleName(handle)} created for ${path}[${index}] on ${created.length} servers`);
    const grant = await this.m.locked(`chunk:${handle}`, () => this.grantLease(handle, index, false));
    return created.length < replication ? { ...grant, createdShort: replication } : grant;
  }

  /**
   * Returns the chunk's live lease, or grants a new one. A new lease raises
   * the version on the live replicas first, then in the log (versions.ts). A
   * replica that does not confirm the new version leaves the lease; because it
   * may still apply the change late, the others move on to one more version
   * (another round) before anyone gets the lease, so it is stale by
   * construction, across master restarts too (M10). `renew` (a client's write
   * failed) replaces the lease only if one of its servers is gone: many
   * clients fail together when a replica dies, and each new lease would make
   * the others' writes stale.
   */
  private async grantLease(handle: Handle, index: number, renew: boolean): Promise<LeaseGrant> {
    const meta = this.m.state.chunks.get(handle);
    if (!meta) throw new GfsError(ErrorCode.NOT_FOUND, `chunk ${handleName(handle)} no longer exists`);
    const now = Date.now();
    const cur = this.m.leases.current(handle, now);
    const liveIds = new Set(this.m.registry.replicaRefs(handle).map((r) => r.id));
    if (cur && this.m.leases.intact(handle, meta.version, liveIds, now) && (!renew || liveIds.size === cur.replicas.length)) {
      return this.grantReply(handle, index, cur);
    }
    const why = !cur ? "no live lease" : renew ? "a client's write failed and a server of the lease is gone" : "the lease no longer matches the live replicas";
    this.m.leases.revoke(handle);
    const { version, live } = await this.raiseVersion(handle);
    this.unchangedSince.delete(handle); // mutations may follow at this version
    const primary = live[0]!;
    const secondaries = live.slice(1);
    const token = signLease(this.tokenKey, { handle, version, primary: primary.id, secondaries: secondaries.map((r) => r.id) });
    await this.callServer(primary.id, "setVersion", { handle, version, lease: { leaseMs: this.m.cfg.leaseMs, secondaries, token } });
    const lease = this.m.leases.grant(handle, primary.id, version, Date.now(), live.map((r) => r.id));
    this.m.log.debug(`chunk ${handleName(handle)}: lease to ${primary.addr} at version ${version} (${why})`);
    return this.grantReply(handle, index, lease);
  }

  /**
   * Moves a chunk's live replicas to a new version, first on the replicas and
   * then in the log (versions.ts); replicas that do not confirm leave, and
   * the rest move one further, until all that are left confirmed. Afterwards
   * no mutation ordered under an older version can complete anywhere.
   * Callers hold the chunk's lock.
   */
  private async raiseVersion(handle: Handle): Promise<{ version: number; live: ReplicaRef[] }> {
    let live = this.m.registry.replicaRefs(handle);
    for (;;) {
      if (live.length === 0) throw new GfsError(ErrorCode.NO_REPLICA, `no live replica of chunk ${handleName(handle)}`);
      const before = this.m.state.chunks.versionOf(handle);
      const { version, logCeiling } = nextVersion(before, this.m.state.chunks.ceilingOf(handle), this.unsent.has(handle));
      // Logged before any replica may hold it, so a restart knows it as current and never reuses it.
      if (logCeiling) await this.m.commit({ o: "vmax", h: handle, c: version });
      this.unsent.delete(handle);
      const holders = live;
      const results = await Promise.allSettled(holders.map((h) => this.callServer(h.id, "setVersion", { handle, version })));
      // A server that does not take this master as its leader yet (HA, just
      // after a failover: it learns at its next heartbeat) holds a good
      // replica: the lease waits for it instead of leaving it behind.
      const notYet = results.findIndex((r) => r.status === "rejected" && (r.reason as GfsError)?.code === ErrorCode.AUTH);
      if (notYet >= 0) {
        // NO_REPLICA: "not yet", which clients wait out.
        throw new GfsError(ErrorCode.NO_REPLICA, `chunk ${handleName(handle)}: the replica on ${holders[notYet]!.addr} does not take this master's commands yet (${((results[notYet] as PromiseRejectedResult).reason as Error).message})`);
      }
      live = holders.filter((_, i) => results[i]!.status === "fulfilled");
      if (live.length === 0) {
        // A replica may have taken the version and lost only its answer: the
        // version is logged, so that one counts as current when it returns.
        // Those still at the old version hold the same bytes (a version moves
        // none): they leave the list and are adopted when they report.
        if (this.m.state.chunks.has(handle)) {
          if (!this.unchangedSince.has(handle)) this.unchangedSince.set(handle, before);
          await this.m.commit({ o: "ver", h: handle, v: version });
          this.unsent.add(handle);
          for (const h of holders) this.m.registry.removeLocation(handle, h.id);
          this.m.repairs.changed();
        }
        throw new GfsError(ErrorCode.NO_REPLICA, `no replica of chunk ${handleName(handle)} accepted version ${version}`);
      }
      if (!this.m.state.chunks.has(handle)) throw new GfsError(ErrorCode.NOT_FOUND, `chunk ${handleName(handle)} no longer exists`);
      await this.m.commit({ o: "ver", h: handle, v: version });
      this.unsent.add(handle);
      if (live.length === holders.length) return { version, live };
      results.forEach((r, i) => {
        if (r.status !== "rejected") return;
        this.m.log.warn(`chunk ${handleName(handle)}: ${holders[i]!.addr} did not confirm version ${version} (${(r.reason as Error).message}); its replica leaves`);
        this.m.registry.removeLocation(handle, holders[i]!.id);
      });
      this.m.repairs.changed();
    }
  }

  /**
   * Before a clone: a new version on the live replicas, so the bytes copied
   * are final until the next lease (which raises it again and makes the copy
   * stale). Refused while a lease is live.
   */
  freezeForClone(handle: Handle): Promise<number> {
    return this.m.locked(`chunk:${handle}`, async () => {
      if (this.m.leases.current(handle, Date.now())) throw new GfsError(ErrorCode.STALE, `chunk ${handleName(handle)} is being written`);
      const before = this.m.state.chunks.versionOf(handle);
      if (!this.unchangedSince.has(handle)) this.unchangedSince.set(handle, before);
      return (await this.raiseVersion(handle)).version;
    });
  }

  /** What to do with a replica behind the master's version that server `s` reports (versions.ts, staleFate). */
  staleReplica(r: { handle: Handle; version: number; size: number }, s: ServerRecord): "adopt" | "keep" | "discard" {
    const meta = this.m.state.chunks.get(r.handle);
    if (!meta) return "discard";
    // The cluster's replication stands for the chunk's target (finding its files would take a scan): a
    // chunk under a lower setrep may take one copy too many (trimmed later), one under a higher one is copied.
    const fate = staleFate(this.m.registry.replicaRefs(r.handle).length, this.m.state.params.replication, r.version, this.unchangedSince.get(r.handle), r.size, meta.sizeBytes);
    if (fate === "adopt") void this.adopt(r.handle, s.id, r.version);
    return fate;
  }

  /**
   * The chunk has fewer live current replicas than the cluster's replication,
   * and `serverId` holds one at or above its last lease's version with every
   * acknowledged byte (versions.ts, staleFate): it is moved to the current
   * version and listed again.
   */
  private async adopt(handle: Handle, serverId: string, replicaVersion: number): Promise<void> {
    if (this.adopting.has(handle)) return;
    this.adopting.add(handle);
    try {
      await this.m.locked(`chunk:${handle}`, async () => {
        const meta = this.m.state.chunks.get(handle);
        const s = this.m.registry.servers.get(serverId);
        const live = this.m.registry.replicaRefs(handle);
        const since = this.unchangedSince.get(handle);
        // Checked again under the chunk's lock: a lease since (mutations) or copies made meanwhile end it.
        if (!meta || !s?.alive || since === undefined || replicaVersion < since || live.length >= this.m.state.params.replication || live.some((r) => r.id === serverId)) return;
        await this.callServer(serverId, "setVersion", { handle, version: meta.version });
        this.m.registry.addLocation(handle, serverId);
        this.damagedOnly.delete(handle);
        this.m.repairs.changed();
        this.m.log.warn(`chunk ${handleName(handle)}: ${live.length} live current replica${live.length === 1 ? "" : "s"}; adopted the one on ${s.addr} (version ${replicaVersion}, unchanged since version ${since}; now ${meta.version})`);
      });
    } catch (err) {
      this.m.log.warn(`chunk ${handleName(handle)}: adopting the replica on ${this.m.registry.servers.get(serverId)?.addr ?? serverId} failed: ${(err as Error).message}`);
    } finally {
      this.adopting.delete(handle);
    }
  }

  /** The lease as clients see it: primary and secondaries exactly as granted. */
  private grantReply(handle: Handle, index: number, lease: LeaseRecord): LeaseGrant {
    const refs = lease.replicas.map((id) => this.m.registry.ref(id)!);
    const primary = refs.find((r) => r.id === lease.primary)!;
    return { handle, version: lease.version, index, primary, secondaries: refs.filter((r) => r.id !== lease.primary), leaseMs: this.m.cfg.leaseMs, chunkSize: this.m.state.params.chunkSizeBytes };
  }

  callServer<T extends "createChunk" | "setVersion" | "revokeLease" | "copyChunk" | "cloneChunk">(id: string, type: T, body: ReqBody<T>, timeoutMs = CHUNKSERVER_CALL_MS): Promise<RepBody<T>> {
    const peer = this.m.serverRequests.connectionOf(id);
    if (!peer || peer.closed) return Promise.reject(new GfsError(ErrorCode.UNAVAILABLE, `chunk server ${id} is not connected`));
    return peer.call(type, body, timeoutMs);
  }

  /**
   * A replica is damaged (its server said so, or a copy from it found it
   * short): no longer listed, deleted unless it is the last. One whose bytes
   * are intact but that takes no more writes (`writeOnly`: a full disk) stays
   * listed while it is the only one, so what it holds stays readable; its
   * lease ends, and re-replication copies it elsewhere.
   */
  replicaDamaged(handle: Handle, s: ServerRecord, reason: string, writeOnly = false): void {
    const others = this.m.registry.replicaRefs(handle).filter((r) => r.id !== s.id).length;
    if (writeOnly && others === 0) {
      this.m.leases.revoke(handle);
      this.m.repairs.changed();
      this.m.log.warn(`chunk ${handleName(handle)}: replica on ${s.addr} takes no more writes (${reason}); kept as the only replica, readable`);
      return;
    }
    this.m.registry.removeLocation(handle, s.id);
    this.m.repairs.changed();
    // The last replica is never deleted: a damaged copy may still be all there is.
    if (others > 0) s.discard.add(handle);
    else this.damagedOnly.add(handle);
    this.m.log.warn(`chunk ${handleName(handle)}: replica on ${s.addr} is damaged (${reason}); dropped${others > 0 ? "" : ", kept on its disk: no other replica is live"}`);
    const l = this.m.leases.current(handle, Date.now());
    if (l?.primary === s.id) this.m.leases.revoke(handle);
  }

  private async allocateHandle(): Promise<Handle> {
    while (this.nextHandle >= this.m.state.handleLimit) {
      this.reserving ??= this.m.commit({ o: "handles", n: this.nextHandle + HANDLE_BATCH }).finally(() => (this.reserving = null));
      await this.reserving;
    }
    return this.nextHandle++;
  }

  nextHandle = 1;

  private reserving: Promise<void> | null = null;

  /** Chunks whose next version no replica has been sent in this run: created or last raised here, and logged (versions.ts). */
  readonly unsent = new HandleBits();

  /** Chunks whose last live replica was reported damaged (kept on its disk): fsck calls them corrupt. */
  readonly damagedOnly = new Set<Handle>();

  /**
   * Chunks whose version was raised since their last lease only to copy them
   * (no mutation can have happened since): the version before the first such
   * raise. A replica at or above it holds every acknowledged byte.
   */
  private readonly unchangedSince = new VersionByHandle();

  /** Chunks whose stale replica is being adopted (see adopt). */
  private readonly adopting = new Set<Handle>();

  /** Handles allocated for chunks being created or copied, not in the chunk table yet. */
  readonly creating = new Set<Handle>();
}
