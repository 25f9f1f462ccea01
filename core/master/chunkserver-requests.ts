// The master's side of chunk servers (C3, M4, M10, M12): registration,
// heartbeats (deletions, lease extensions, the chunk listings), damage
// reports, loss, draining, rebalancing and the cluster listing. Decisions
// live in servers.ts, versions.ts and repairs.ts.
import { advertisedHost } from "../advertised-address";
import { ErrorCode, GfsError } from "../../net/errors";
import type { Handle, ReqBody, RepBody } from "../../net/messages";
import type { Peer } from "../../net/peer";
import type { ServerRecord } from "./servers";
import { judgeReplica, unwantedReplicas } from "./versions";
import { handleName } from "../handles";
import type { MasterContext } from "./context";

export class ChunkServerRequests {
  /** Each registered chunk server's connection, by server id. */
  private readonly peersById = new Map<string, Peer>();

  constructor(private readonly m: MasterContext) {}

  /** The connection of chunk server `id`, if it is registered and connected. */
  connectionOf(id: string): Peer | undefined {
    return this.peersById.get(id);
  }

  /**
   * Draining (gfs drain): the server keeps serving reads, takes no new
   * replicas, and its replicas stop counting, so re-replication copies them
   * elsewhere. Held in memory: after a master restart, drain again.
   */
  drain(b: ReqBody<"drain">): RepBody<"drain"> {
    const s = [...this.m.registry.servers.values()].find((x) => x.id === b.server || x.addr === b.server);
    if (!s) throw new GfsError(ErrorCode.NOT_FOUND, `no chunk server ${b.server} (give its address or id, as gfs cluster shows them)`);
    const draining = !b.cancel;
    if (s.draining !== draining) {
      s.draining = draining;
      this.m.repairs.changed();
      this.m.log.info(`chunk server ${s.addr} (${s.id}): ${draining ? "draining: its replicas are copied elsewhere" : "drain cancelled"}`);
    }
    return { id: s.id, addr: s.addr, draining, chunksDependingOnIt: this.m.repairs.dependingOn(s.id) };
  }

  /** Rebalancing (M12): plan, start, or report. */
  rebalance(b: ReqBody<"rebalance">): RepBody<"rebalance"> {
    if (!(b.thresholdPct >= 1 && b.thresholdPct <= 100)) throw new GfsError(ErrorCode.INVALID_ARGUMENT, `threshold must be 1..100 percentage points, got ${b.thresholdPct}`);
    if (!b.dryRun && !b.status && !this.m.repairs.rebalanceStatus().active) this.m.repairs.startRebalance(b.thresholdPct);
    const addr = (id: string) => this.m.registry.ref(id)?.addr ?? id;
    const plan = b.status ? [] : this.m.repairs.previewRebalance(b.thresholdPct, 1000).map((move) => ({ chunk: handleName(move.handle), from: addr(move.from), to: addr(move.to) }));
    return { ...this.m.repairs.rebalanceStatus(), plan };
  }

  cluster(): RepBody<"cluster"> {
    return { chunkSize: this.m.state.params.chunkSizeBytes, replication: this.m.state.params.replication, servers: this.m.registry.status(Date.now()), master: this.m.role(`${advertisedHost(this.m.cfg.listenHost)}:${this.m.port}`) };
  }

  async register(b: ReqBody<"register">, peer: Peer): Promise<RepBody<"register">> {
    if (peer.remoteRole !== "chunkserver") throw new GfsError(ErrorCode.PROTOCOL, "only chunk servers register");
    if (typeof b.id !== "string" || typeof b.addr !== "string" || !Array.isArray(b.chunks)) throw new GfsError(ErrorCode.INVALID_ARGUMENT, "malformed registration");
    const old = this.peersById.get(b.id);
    if (old && old !== peer) old.close("replaced by a new registration");
    const now = Date.now();
    const s = this.m.registry.upsert(b.id, b.addr, b.rack || "default", now);
    s.capacityBytes = b.capacityBytes;
    s.usedBytes = b.usedBytes;
    peer.tag = s;
    this.peersById.set(b.id, peer);
    const discard: Handle[] = [...s.discard];
    s.discard.clear();
    let stale = 0;
    let unknown = 0;
    let unexplained = 0;
    for (const r of b.chunks) {
      const meta = this.m.state.chunks.get(r.handle);
      if (!meta) {
        unknown++;
        discard.push(r.handle);
        continue;
      }
      const verdict = judgeReplica(meta.version, r.version, this.m.state.chunks.ceilingOf(r.handle));
      if (!this.m.leads) {
        // A standby only learns where current replicas are; what to delete or adopt is the leader's call.
        if (verdict === "current") {
          this.m.state.chunks.raiseSize(r.handle, r.size);
          this.m.registry.addLocation(r.handle, s.id);
        }
        continue;
      }
      if (verdict === "stale") {
        stale++;
        if (this.m.chunkRequests.staleReplica(r, s) === "discard") discard.push(r.handle);
        continue;
      }
      if (verdict === "unexplained") {
        // Never adopted: the replicas the master has stay; this one stays on disk for inspection.
        unexplained++;
        this.m.log.warn(`chunk ${handleName(r.handle)}: ${b.addr} reports version ${r.version}, the master has ${meta.version} and sent at most ${this.m.state.chunks.ceilingOf(r.handle)}; not listed (damaged or forged metadata)`);
        continue;
      }
      this.m.state.chunks.raiseSize(r.handle, r.size);
      this.m.registry.addLocation(r.handle, s.id);
    }
    this.m.repairs.changed();
    this.m.log.info(`chunk server ${b.addr} (${b.id}, rack ${s.rack}) registered with ${b.chunks.length} chunks${stale ? `, ${stale} stale` : ""}${unknown ? `, ${unknown} unknown` : ""}${unexplained ? `, ${unexplained} with an unexplained version` : ""}`);
    return { chunkSize: this.m.state.params.chunkSizeBytes, heartbeatMs: this.m.cfg.heartbeatMs, discard: this.m.leads ? discard : [], ...(this.m.cfg.secret ? {} : { tokenKey: this.m.chunkRequests.tokenKey }), ...this.m.leadership() };
  }

  heartbeat(b: ReqBody<"heartbeat">, peer: Peer): RepBody<"heartbeat"> {
    const s = peer.tag as ServerRecord | null;
    if (!s) throw new GfsError(ErrorCode.PROTOCOL, "heartbeat before registration");
    const now = Date.now();
    if (!s.alive) {
      // Declared dead while it was only slow: it must register again.
      peer.close("declared dead; register again");
      throw new GfsError(ErrorCode.UNAVAILABLE, "declared dead; register again");
    }
    s.lastHeartbeatMs = now;
    s.heartbeats++;
    if (b.io) this.m.history.serverCounters(s.id, b.io.read, b.io.written);
    s.usedBytes = b.usedBytes;
    s.capacityBytes = b.capacityBytes;
    for (const r of b.sizes ?? []) {
      if (this.m.state.chunks.versionOf(r.handle) === r.version) this.m.state.chunks.raiseSize(r.handle, r.size);
    }
    if (!this.m.leads) {
      // A standby learns where replicas are from the listings (each heartbeat lists a slice, going round them all), to serve reads.
      for (const r of b.listed ?? []) {
        const version = this.m.state.chunks.versionOf(r.handle);
        if (version && judgeReplica(version, r.version, this.m.state.chunks.ceilingOf(r.handle)) === "current") {
          this.m.state.chunks.raiseSize(r.handle, r.size);
          this.m.registry.addLocation(r.handle, s.id);
        } else this.m.registry.removeLocation(r.handle, s.id);
      }
      return { discard: [], extended: [], leaseMs: this.m.cfg.leaseMs, ...this.m.leadership() };
    }
    const extended = (b.extend ?? []).filter((h) => this.m.leases.extend(h, s.id, now));
    const listed = new Map((b.listed ?? []).map((r) => [r.handle, r]));
    for (const h of unwantedReplicas(b.listed ?? [], (x) => this.m.state.chunks.versionOf(x), this.m.chunkRequests.creating, (x) => this.m.state.chunks.ceilingOf(x))) {
      // A stale replica that may be the last copy is kept, or adopted.
      if (this.m.state.chunks.get(h) && this.m.chunkRequests.staleReplica(listed.get(h)!, s) !== "discard") continue;
      this.m.registry.removeLocation(h, s.id);
      s.discard.add(h);
    }
    const discard = [...s.discard];
    s.discard.clear();
    return { discard, extended, leaseMs: this.m.cfg.leaseMs, ...this.m.leadership() };
  }

  corrupt(b: ReqBody<"corrupt">, peer: Peer): {} {
    const s = peer.tag as ServerRecord | null;
    if (!s) throw new GfsError(ErrorCode.PROTOCOL, "report before registration");
    if (!this.m.leads) return {};
    this.m.chunkRequests.replicaDamaged(b.handle, s, b.reason, b.writeOnly === true);
    return {};
  }

  onPeerClosed(peer: Peer, why: string): void {
    const s = peer.tag as ServerRecord | null;
    if (!s || this.peersById.get(s.id) !== peer) return;
    this.peersById.delete(s.id);
    this.serverLost(s.id, `connection closed (${why})`);
  }

  checkLiveness(): void {
    for (const id of this.m.registry.silent(Date.now(), this.m.cfg.deadAfterMs)) this.serverLost(id, `no heartbeat for ${this.m.cfg.deadAfterMs} ms`);
  }

  private serverLost(id: string, why: string): void {
    const s = this.m.registry.servers.get(id);
    if (!s?.alive) return;
    const held = this.m.registry.markDead(id);
    this.m.repairs.changed();
    const leases = this.m.leases.dropServer(id);
    this.m.log.warn(`chunk server ${s.addr} (${id}) lost: ${why}; ${held.length} replicas and ${leases.length} leases dropped`);
    this.peersById.get(id)?.close("declared dead");
  }
}
