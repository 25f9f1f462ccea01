// gfs mv: rename a file or directory.
import { defineCommand } from "citty";
import { clientArgs } from "../options";
import { remotePath, withClient } from "../client";

export default defineCommand({
  meta: { name: "mv", description: "Rename SRC to DST (into DST if it is a directory); atomic on the master" },
  args: {
    src: { type: "positional", description: "Remote source path", required: true },
    dst: { type: "positional", description: "Remote destination path", required: true },
    ...clientArgs,
  },
  async run({ args }) {
    const src = remotePath(args.src, "SRC");
    const dst = remotePath(args.dst, "DST");
    await withClient(args, (c) => c.mv(src, dst));
  },
});
