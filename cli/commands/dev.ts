// gfs dev: a whole cluster on this host, in the foreground.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineCommand } from "citty";
import { connect } from "../../core/client";
import { logger } from "../../core/log";
import { selfArgv } from "../../core/self";
import { ExitError } from "../errors";
import { parseCount, parseSize } from "../options";

export default defineCommand({
  meta: { name: "dev", description: "Run a master and N chunk servers on this host until Ctrl-C; prints the GFS_MASTER line to export" },
  args: {
    dir: { type: "string", description: "Keep the cluster's data here (survives a restart); default: a temporary directory", valueHint: "DIR" },
    chunkservers: { type: "string", description: "Number of chunk servers", default: "3", valueHint: "N" },
    port: { type: "string", description: "Master port", default: "7070", valueHint: "PORT" },
    "chunk-size": { type: "string", description: "Chunk size at the first start", default: "64MiB", valueHint: "SIZE" },
    replication: { type: "string", description: "Default replication at the first start", default: "3", valueHint: "N" },
  },
  async run({ args }) {
    const log = logger("dev");
    const n = parseCount(args.chunkservers, "--chunkservers", 1, 64);
    const port = parseCount(args.port, "--port", 0, 65535);
    parseSize(args["chunk-size"], "--chunk-size");
    const replication = Math.min(parseCount(args.replication, "--replication", 1, 16), n);
    const dir = args.dir || mkdtempSync(join(tmpdir(), "gfs-dev-"));
    mkdirSync(dir, { recursive: true });
    const children: ReturnType<typeof Bun.spawn>[] = [];
    let stopping = false;
    const stopAll = async () => {
      stopping = true;
      for (const c of children) c.kill("SIGTERM");
      await Promise.all(children.map((c) => c.exited));
      if (!args.dir) rmSync(dir, { recursive: true, force: true });
    };
    // Each daemon's log lines name it (GFS_LOG_TAG) and pass through as they are.
    const spawn = (argv: string[], name: string) => {
      const child = Bun.spawn([...selfArgv(), ...argv], { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: { ...process.env, GFS_LOG_TAG: name } });
      children.push(child);
      child.exited.then((code) => {
        if (!stopping) {
          log.error(`${argv[0]} (pid ${child.pid}) exited with ${code}; stopping the cluster`);
          void stopAll().then(() => process.exit(1));
        }
      });
      return child;
    };
    try {
      const master = spawn(["master", "--data", join(dir, "master"), "--listen", `127.0.0.1:${port}`, "--chunk-size", args["chunk-size"], "--replication", String(replication), "--heartbeat", "1s", "--dead-after", "5s"], "master");
      const masterPort = await listeningPort(master.stderr as ReadableStream<Uint8Array>, "master");
      const addr = `127.0.0.1:${masterPort}`;
      for (let i = 0; i < n; i++) {
        const cs = spawn(["chunkserver", "--data", join(dir, `chunkserver-${i + 1}`), "--master", addr, "--listen", "127.0.0.1:0"], `chunkserver-${i + 1}`);
        await listeningPort(cs.stderr as ReadableStream<Uint8Array>, `chunkserver-${i + 1}`);
      }
      const client = connect({ master: addr });
      const deadline = Date.now() + 30_000;
      for (;;) {
        const info = await client.cluster();
        if (info.servers.filter((s) => s.alive).length >= n) break;
        if (Date.now() > deadline) throw new ExitError(1, "chunk servers did not register within 30 s");
        await Bun.sleep(50);
      }
      client.close();
      process.stdout.write(`GFS_MASTER=${addr}\n`);
      log.info(`cluster up: master ${addr}, ${n} chunk servers, data in ${dir}${args.dir ? "" : " (removed on exit)"}`);
      log.info(`export GFS_MASTER=${addr}   # then: gfs put FILE /FILE; gfs cat /FILE; Ctrl-C stops the cluster`);
    } catch (err) {
      await stopAll();
      throw err;
    }
    await new Promise<void>((resolve) => {
      const onSignal = () => void stopAll().then(resolve);
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
    });
  },
});

/** Reads a daemon's stderr until its "listening on HOST:PORT" line; keeps echoing it after. */
async function listeningPort(stderr: ReadableStream<Uint8Array>, name: string): Promise<number> {
  const reader = stderr.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new ExitError(1, `${name} exited before listening`);
    const text = decoder.decode(value, { stream: true });
    process.stderr.write(text);
    buf += text;
    const m = /listening on [^\s:]+:(\d+)/.exec(buf);
    if (m) {
      void (async () => {
        for (;;) {
          const r = await reader.read();
          if (r.done) return;
          process.stderr.write(decoder.decode(r.value, { stream: true }));
        }
      })();
      return Number(m[1]);
    }
  }
}
