// gfs snapshot: copy a file or directory tree almost instantly.
import { defineCommand } from "citty";
import { clientArgs } from "../options";
import { remotePath, withClient } from "../client";

export default defineCommand({
  meta: { name: "snapshot", description: "Copy a file or directory tree almost instantly: metadata is duplicated, chunks are shared and copied on their first write" },
  args: {
    src: { type: "positional", description: "Remote source path", required: true },
    dst: { type: "positional", description: "Remote destination path (must not exist)", required: true },
    json: { type: "boolean", description: "Print what was copied as JSON" },
    ...clientArgs,
  },
  async run({ args }) {
    const src = remotePath(args.src, "SRC");
    const dst = remotePath(args.dst, "DST");
    await withClient(args, async (c) => {
      const t0 = performance.now();
      const r = await c.master("snapshot", { src, dst });
      const ms = Math.round(performance.now() - t0);
      if (args.json) process.stdout.write(JSON.stringify({ ...r, ms }) + "\n");
      else process.stderr.write(`snapshot ${src} -> ${dst}: ${r.files} files, ${r.chunks} chunks shared, ${r.revokedLeases} leases revoked, ${ms} ms\n`);
    });
  },
});
