// gfs rm: delete a file or directory.
import { defineCommand } from "citty";
import { clientArgs } from "../options";
import { remotePath, withClient } from "../client";

export default defineCommand({
  meta: { name: "rm", description: "Delete a file, or a directory with -r (deleted at once for now: the trash comes later)" },
  args: {
    path: { type: "positional", description: "Remote path", required: true },
    recursive: { type: "boolean", alias: "r", description: "Delete a directory and everything below it" },
    ...clientArgs,
  },
  async run({ args }) {
    const path = remotePath(args.path);
    await withClient(args, (c) => c.rm(path, !!args.recursive));
  },
});
