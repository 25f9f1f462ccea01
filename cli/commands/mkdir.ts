// gfs mkdir: create a directory.
import { defineCommand } from "citty";
import { clientArgs } from "../options";
import { remotePath, withClient } from "../client";

export default defineCommand({
  meta: { name: "mkdir", description: "Create a directory" },
  args: {
    path: { type: "positional", description: "Remote path", required: true },
    parents: { type: "boolean", alias: "p", description: "Create missing parents; no error if it exists" },
    ...clientArgs,
  },
  async run({ args }) {
    const path = remotePath(args.path);
    await withClient(args, (c) => c.mkdir(path, !!args.parents));
  },
});
