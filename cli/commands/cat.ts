// gfs cat: write remote files to stdout.
import { defineCommand } from "citty";
import { clientArgs, parseSize } from "../options";
import { remotePath, withClient } from "../client";
import { StdoutWriter } from "../stdout";
import { progress } from "../progress";

export default defineCommand({
  meta: { name: "cat", description: "Write REMOTE files to standard output, verified against their checksums" },
  args: {
    remote: { type: "positional", description: "Remote path(s)", required: true },
    offset: { type: "string", description: "Start at this byte", valueHint: "N" },
    length: { type: "string", description: "At most this many bytes", valueHint: "N" },
    records: { type: "boolean", description: "Print each valid record once (files written by gfs append)" },
    quiet: { type: "boolean", alias: "q", description: "No progress line (there is none when stderr is not a terminal)" },
    ...clientArgs,
  },
  async run({ args }) {
    const paths = (args._.length ? args._ : [args.remote]).map((p) => remotePath(p, "REMOTE"));
    const offset = args.offset !== undefined ? parseSize(args.offset, "--offset") : undefined;
    const length = args.length !== undefined ? parseSize(args.length, "--length") : undefined;
    const out = new StdoutWriter();
    await withClient(args, async (c) => {
      for (const path of paths) {
        if (args.records) {
          for await (const r of c.readRecords(path, { offset, length })) {
            await out.write(r.payload);
            await out.write(NEWLINE);
          }
        } else {
          const total = process.stderr.isTTY && !args.quiet ? Math.max(0, Math.min((await c.stat(path)).size - (offset ?? 0), length ?? Infinity)) : undefined;
          for await (const data of progress(c.read(path, { offset, length }), `cat ${path}`, total, !!args.quiet)) await out.write(data);
        }
      }
      await out.close();
    });
  },
});

const NEWLINE = new Uint8Array([10]);
