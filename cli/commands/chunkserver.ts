// gfs chunkserver: stores chunks on local disk and serves them.
import { defineCommand } from "citty";
import { ChunkServer } from "../../core/chunkserver/server";
import { loadSecret, parseDuration, parseHostPort, parseSize, UsageError } from "../options";
import { runUntilSignal } from "../daemon";
import { serveHttp } from "../../core/http-endpoint";
import { logger } from "../../core/log";

export default defineCommand({
  meta: { name: "chunkserver", description: "Run a chunk server: one file per chunk, CRC32C per 64 KiB block, verified on every read" },
  args: {
    data: { type: "string", description: "Directory for chunk files", valueHint: "DIR", required: true },
    master: { type: "string", description: "Master HOST:PORT", valueHint: "HOST:PORT", required: true },
    listen: { type: "string", description: "Address to listen on", default: "0.0.0.0:7080", valueHint: "HOST:PORT" },
    advertise: { type: "string", description: "Address clients and peers use to reach this server", valueHint: "HOST:PORT" },
    rack: { type: "string", description: "Rack name, for spreading replicas", default: "default", valueHint: "NAME" },
    buffer: { type: "string", description: "Memory for pushed data waiting to be written", default: "256MiB", valueHint: "SIZE" },
    "scrub-interval": { type: "string", description: "How often idle chunks are re-verified", default: "1h", valueHint: "DURATION" },
    capacity: { type: "string", description: "Chunk bytes to store here at most (default: the whole disk of --data)", valueHint: "SIZE" },
    "scrub-rate": { type: "string", description: "Bytes per second the re-verification reads at most (0: unpaced)", default: "32MiB", valueHint: "SIZE" },
    "secret-file": { type: "string", description: "File holding the cluster secret (or GFS_SECRET_FILE, GFS_SECRET)", valueHint: "PATH" },
    http: { type: "string", description: "Serve Prometheus metrics (/metrics) and /status.json on this address", valueHint: "HOST:PORT" },
    "idle-timeout": { type: "string", description: "Close connections that send nothing for this long", default: "2m", valueHint: "DURATION" },
  },
  async run({ args }) {
    if (!args.data) throw new UsageError("--data DIR is required");
    if (!args.master) throw new UsageError("--master HOST:PORT is required");
    parseHostPort(args.master, "--master");
    const { host, port } = parseHostPort(args.listen, "--listen");
    if (args.advertise) parseHostPort(args.advertise, "--advertise");
    const server = new ChunkServer({
      dataDir: args.data,
      master: args.master,
      listenHost: host,
      listenPort: port,
      advertise: args.advertise || undefined,
      rack: args.rack || "default",
      bufferBytes: parseSize(args.buffer, "--buffer"),
      scrubIntervalMs: parseDuration(args["scrub-interval"], "--scrub-interval"),
      scrubBytesPerSec: parseSize(args["scrub-rate"], "--scrub-rate"),
      capacityBytes: args.capacity ? parseSize(args.capacity, "--capacity") : 0,
      secret: loadSecret(args["secret-file"]),
      idleMs: parseDuration(args["idle-timeout"], "--idle-timeout"),
    });
    server.onFatal = (err) => {
      void server.stop();
      process.stderr.write(`gfs: the master refused this chunk server: ${err.message} (check --secret-file)\n`);
      process.exit(1);
    };
    const http = args.http ? parseHostPort(args.http, "--http") : null;
    await server.start();
    if (http) {
      const endpoint = serveHttp(http.host, http.port, { metrics: () => server.metrics.render(), status: () => server.statusSnapshot() });
      logger("chunkserver").info(`metrics on http://${http.host}:${endpoint.port}/metrics`);
    }
    await runUntilSignal(() => server.stop());
  },
});
