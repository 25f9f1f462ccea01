// gfs rm: delete a file or directory.
import { defineCommand } from "citty";
import { clientArgs } from "../options";
import { remotePath, withClient } from "../client";

export default defineCommand({
  meta: {
    name: "rm",
    description: "Remove a file, or a directory with -r: it moves to /.trash, readable and undeletable (gfs undelete) until the master's --trash-ttl; removing something in /.trash erases it at once",
  },
  args: {
    path: { type: "positional", description: "Remote path(s)", required: true },
    recursive: { type: "boolean", alias: "r", description: "Delete a directory and everything below it" },
    ...clientArgs,
  },
  async run({ args }) {
    const paths = (args._.length ? args._ : [args.path]).map((p) => remotePath(p));
    await withClient(args, async (c) => {
      for (const path of paths) await c.rm(path, !!args.recursive);
    });
  },
});
