// gfs mkdir: create a directory.
import { defineCommand } from "citty";
import { clientArgs } from "../options";
import { remotePath, withClient } from "../client";

export default defineCommand({
  meta: { name: "mkdir", description: "Create a directory" },
  args: {
    path: { type: "positional", description: "Remote path(s)", required: true },
    parents: { type: "boolean", alias: "p", description: "Create missing parents; no error if it exists" },
    trash: { type: "boolean", default: true, description: "--no-trash: removals of anything below this directory erase it at once instead of moving it to /.trash (with -p, marks an existing directory too)" },
    ...clientArgs,
  },
  async run({ args }) {
    const paths = (args._.length ? args._ : [args.path]).map((p) => remotePath(p));
    await withClient(args, async (c) => {
      for (const path of paths) await c.mkdir(path, !!args.parents, args.trash === false);
    });
  },
});
