// gfs put: store a local file (or stdin) as a remote file.
import { existsSync, statSync } from "node:fs";
import { defineCommand } from "citty";
import { ErrorCode, GfsError } from "../../net/errors";
import { clientArgs, parseCount, UsageError } from "../options";
import { remotePath, withClient } from "../client";
import { progress } from "../progress";

export default defineCommand({
  meta: { name: "put", description: "Store LOCAL (or - for stdin) as REMOTE; the file appears only once every byte is stored" },
  args: {
    local: { type: "positional", description: "Local file, or - for standard input", required: true },
    remote: { type: "positional", description: "Remote path", required: true },
    replication: { type: "string", description: "Replicas per chunk (default: the cluster's)", valueHint: "N" },
    parents: { type: "boolean", alias: "p", description: "Create missing parent directories" },
    force: { type: "boolean", description: "Replace an existing file" },
    quiet: { type: "boolean", alias: "q", description: "No progress line (there is none when stderr is not a terminal)" },
    ...clientArgs,
  },
  async run({ args }) {
    const remote = remotePath(args.remote, "REMOTE");
    const replication = args.replication !== undefined ? parseCount(args.replication, "--replication", 1, 16) : undefined;
    let source: AsyncIterable<Uint8Array>;
    let total: number | undefined;
    if (args.local === "-") source = Bun.stdin.stream() as unknown as AsyncIterable<Uint8Array>;
    else {
      if (!existsSync(args.local)) throw new UsageError(`${args.local}: no such local file`);
      const st = statSync(args.local);
      if (!st.isFile()) throw new UsageError(`${args.local} is not a regular file`);
      total = st.size;
      source = Bun.file(args.local).stream() as unknown as AsyncIterable<Uint8Array>;
    }
    let sent = 0;
    const counted = async function* (s: AsyncIterable<Uint8Array>) {
      for await (const b of s) {
        sent += b.byteLength;
        yield b;
      }
    };
    await withClient(args, (c) => {
      // Ctrl-C: the upload is removed and the user told where the put stopped; nothing appears at REMOTE.
      let upload: string | null = null;
      process.once("SIGINT", () => {
        const removed = upload ? c.master("rm", { path: upload, recursive: false }).then(() => true, () => false) : Promise.resolve(true);
        void Promise.race([removed, Bun.sleep(2_000).then(() => false)]).then((ok) => {
          process.stderr.write(`\ngfs: put interrupted after ${sent} bytes; nothing was stored at ${remote}${ok ? "" : ` (its upload in /.put is reclaimed after the master's --upload-timeout)`}\n`);
          process.exit(130);
        });
      });
      return c.put(remote, counted(progress(source, `put ${remote}`, total, !!args.quiet)), { replication, parents: args.parents, overwrite: args.force, onUpload: (p) => (upload = p) });
    }).catch((err) => {
      if (err instanceof GfsError && err.code === ErrorCode.EXISTS && !args.force) throw new GfsError(err.code, `${remote} already exists (use --force to replace it)`);
      throw err;
    });
  },
});
