// gfs master: the metadata server.
import { defineCommand } from "citty";
import { Master } from "../../core/master/server";
import { logger } from "../../core/log";
import { initChecksums } from "../../core/checksums";
import { loadSecret, parseCount, parseDuration, parseHostPort, parseSize, UsageError } from "../options";
import { runUntilSignal } from "../daemon";
import { serveHttp } from "../../core/http-endpoint";
import { STATUS_PAGE } from "../../core/master/status-page";

export default defineCommand({
  meta: { name: "master", description: "Run the master: namespace, chunk locations, leases; every change logged before it is acknowledged" },
  args: {
    data: { type: "string", description: "Directory for the operation log and checkpoints", valueHint: "DIR", required: true },
    listen: { type: "string", description: "Address to listen on", default: "0.0.0.0:7070", valueHint: "HOST:PORT" },
    "chunk-size": { type: "string", description: "Chunk size, fixed at the cluster's first start", default: "64MiB", valueHint: "SIZE" },
    replication: { type: "string", description: "Default replicas per chunk, fixed at the first start", default: "3", valueHint: "N" },
    lease: { type: "string", description: "Chunk lease length", default: "60s", valueHint: "DURATION" },
    heartbeat: { type: "string", description: "Chunk server heartbeat period", default: "5s", valueHint: "DURATION" },
    "dead-after": { type: "string", description: "Silence after which a chunk server counts as lost", default: "30s", valueHint: "DURATION" },
    "trash-ttl": { type: "string", description: "How long removed files stay in /.trash, readable and undeletable (0: erased at once)", default: "1d", valueHint: "DURATION" },
    "gc-interval": { type: "string", description: "How often garbage collection runs", default: "1m", valueHint: "DURATION" },
    "upload-timeout": { type: "string", description: "A put's temporary file in /.put untouched this long is reclaimed (an interrupted put)", default: "1h", valueHint: "DURATION" },
    clones: { type: "string", description: "Re-replication: chunk copies under way in the whole cluster, at most", default: "16", valueHint: "N" },
    "clones-per-server": { type: "string", description: "Re-replication: copies a chunk server sends or receives at once, at most", default: "2", valueHint: "N" },
    "rebalance-rate": { type: "string", description: "Rebalancing: bytes per second per replica moved (0: unpaced)", default: "32MiB", valueHint: "SIZE" },
    "clone-rate": { type: "string", description: "Re-replication: bytes per second per copy on average, a quarter of it while clients use the destination (0: unpaced)", default: "64MiB", valueHint: "SIZE" },
    http: { type: "string", description: "Serve the status page (/) and Prometheus metrics (/metrics) on this address", valueHint: "HOST:PORT" },
    "checkpoint-bytes": { type: "string", description: "Operation log size that triggers a checkpoint", default: "64MiB", valueHint: "SIZE" },
    "secret-file": { type: "string", description: "File holding the cluster secret (or GFS_SECRET_FILE, GFS_SECRET)", valueHint: "PATH" },
    "idle-timeout": { type: "string", description: "Close connections that send nothing for this long", default: "2m", valueHint: "DURATION" },
    etcd: { type: "string", description: "High availability: keep the operation log in this etcd cluster and elect one leader among the masters given the same URLs", valueHint: "URL[,URL...]" },
    "etcd-prefix": { type: "string", description: "HA: the etcd key prefix of this cluster", default: "/gfs", valueHint: "PREFIX" },
    "election-ttl": { type: "string", description: "HA: the leader's etcd lease; a leader silent this long is replaced", default: "5s", valueHint: "DURATION" },
    "max-read-lag": { type: "string", description: "HA: a standby answers reads while at most this far behind the log", default: "1s", valueHint: "DURATION" },
    advertise: { type: "string", description: "HA: the address other masters, chunk servers and clients reach this master at (default: the listen address)", valueHint: "HOST:PORT" },
    recover: { type: "boolean", description: "Start even though the operation log is damaged: keep it up to the last good record, move the damaged part and later logs aside (changes logged after the damage are lost)" },
  },
  async run({ args }) {
    if (!args.data) throw new UsageError("--data DIR is required");
    await initChecksums();
    const { host, port } = parseHostPort(args.listen, "--listen");
    const chunkSizeBytes = parseSize(args["chunk-size"], "--chunk-size");
    if (chunkSizeBytes < 64 * 1024 || chunkSizeBytes % (64 * 1024) !== 0) throw new UsageError("--chunk-size must be a multiple of 64KiB");
    const etcd = args.etcd ? args.etcd.split(",").map((u: string) => u.trim()).filter(Boolean) : [];
    for (const u of etcd) if (!/^https?:\/\/[^/]+/.test(u)) throw new UsageError(`--etcd takes http://HOST:PORT URLs, got ${u}`);
    if (args.advertise) parseHostPort(args.advertise, "--advertise");
    const electionTtlMs = parseDuration(args["election-ttl"], "--election-ttl");
    if (electionTtlMs < 1000) throw new UsageError("--election-ttl must be at least 1s (etcd leases count whole seconds)");
    const master = new Master({
      dataDir: args.data,
      listenHost: host,
      listenPort: port,
      chunkSizeBytes,
      replication: parseCount(args.replication, "--replication", 1, 16),
      leaseMs: parseDuration(args.lease, "--lease"),
      heartbeatMs: parseDuration(args.heartbeat, "--heartbeat"),
      deadAfterMs: parseDuration(args["dead-after"], "--dead-after"),
      secret: loadSecret(args["secret-file"]),
      idleMs: parseDuration(args["idle-timeout"], "--idle-timeout"),
      checkpointBytes: parseSize(args["checkpoint-bytes"], "--checkpoint-bytes"),
      recoverLog: args.recover === true,
      trashTtlMs: parseDuration(args["trash-ttl"], "--trash-ttl"),
      gcIntervalMs: parseDuration(args["gc-interval"], "--gc-interval"),
      uploadTimeoutMs: parseDuration(args["upload-timeout"], "--upload-timeout"),
      ...(etcd.length > 0
        ? {
            ha: {
              endpoints: etcd,
              prefix: (args["etcd-prefix"] ?? "/gfs").replace(/\/+$/, ""),
              ttlMs: electionTtlMs,
              maxReadLagMs: parseDuration(args["max-read-lag"], "--max-read-lag"),
              ...(args.advertise ? { advertise: args.advertise } : {}),
            },
          }
        : {}),
      repairs: {
        maxClones: parseCount(args.clones, "--clones", 0),
        maxPerServer: parseCount(args["clones-per-server"], "--clones-per-server", 1),
        cloneBytesPerSec: parseSize(args["clone-rate"], "--clone-rate"),
        rebalanceBytesPerSec: parseSize(args["rebalance-rate"], "--rebalance-rate"),
      },
    });
    const http = args.http ? parseHostPort(args.http, "--http") : null;
    await master.start();
    if (http) {
      const server = serveHttp(http.host, http.port, {
        metrics: () => master.metrics.render(),
        status: () => master.statusSnapshot(`${host === "0.0.0.0" ? "127.0.0.1" : host}:${master.port}`),
        page: STATUS_PAGE,
      });
      logger("master").info(`status page on http://${http.host}:${server.port}/, metrics on http://${http.host}:${server.port}/metrics`);
    }
    await runUntilSignal(() => master.stop());
  },
});
