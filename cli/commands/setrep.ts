// gfs setrep N PATH: replication targets (M14).
import { defineCommand } from "citty";
import { clientArgs, parseCount } from "../options";
import { remotePath, withClient } from "../client";

export default defineCommand({
  meta: {
    name: "setrep",
    description: "Set the replication target of a file, or of a directory: every file below it now and every file created below it later; copies are added or removed in the background (gfs fsck shows the progress)",
  },
  args: {
    n: { type: "positional", description: "Replicas per chunk (1-16)", required: true },
    path: { type: "positional", description: "Remote file or directory", required: true },
    ...clientArgs,
  },
  async run({ args }) {
    const n = parseCount(args.n, "N", 1, 16);
    const path = remotePath(args.path);
    await withClient(args, async (c) => {
      const { files } = await c.setrep(path, n);
      process.stdout.write(`${path}: replication ${n} (${files} file${files === 1 ? "" : "s"})\n`);
    });
  },
});
