// gfs undelete PATH: the newest copy of PATH comes back from the trash (M13).
import { defineCommand } from "citty";
import { clientArgs } from "../options";
import { remotePath, withClient } from "../client";

export default defineCommand({
  meta: { name: "undelete", description: "Bring a removed file or directory back from the trash, to the path it had (the newest copy, if it was removed several times)" },
  args: {
    path: { type: "positional", description: "The remote path it had", required: true },
    ...clientArgs,
  },
  async run({ args }) {
    const path = remotePath(args.path);
    await withClient(args, async (c) => {
      const { from } = await c.undelete(path);
      process.stdout.write(`${path}: restored from ${from}\n`);
    });
  },
});
