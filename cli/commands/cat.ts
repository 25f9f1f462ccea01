// gfs cat: write remote files to stdout.
import { defineCommand } from "citty";
import { clientArgs, parseSize } from "../options";
import { remotePath, withClient } from "../client";
import { StdoutWriter } from "../stdout";

export default defineCommand({
  meta: { name: "cat", description: "Write REMOTE files to standard output, verified against their checksums" },
  args: {
    remote: { type: "positional", description: "Remote path(s)", required: true },
    offset: { type: "string", description: "Start at this byte", valueHint: "N" },
    length: { type: "string", description: "At most this many bytes", valueHint: "N" },
    records: { type: "boolean", description: "Print each valid record once (files written by gfs append)" },
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
          for await (const data of c.read(path, { offset, length })) await out.write(data);
        }
      }
      await out.close();
    });
  },
});

const NEWLINE = new Uint8Array([10]);
