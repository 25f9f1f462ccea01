// gfs ls: list a directory.
import { defineCommand } from "citty";
import type { DirEntry } from "../../net/messages";
import type { GfsClient } from "../../core/client";
import { clientArgs } from "../options";
import { remotePath, withClient } from "../client";
import { formatBytes, formatTime } from "../format";

export default defineCommand({
  meta: { name: "ls", description: "List a directory (or show one file)" },
  args: {
    path: { type: "positional", description: "Remote path", default: "/", required: false },
    long: { type: "boolean", alias: "l", description: "Type, replication, size, chunks and modification time" },
    human: { type: "boolean", alias: "h", description: "With -l, sizes in KiB, MiB, GiB (gfs ls -lh)" },
    recursive: { type: "boolean", alias: "R", description: "List subdirectories too" },
    json: { type: "boolean", description: "One JSON array of entries, each with its full path" },
    all: { type: "boolean", alias: "a", description: "Include names starting with '.' (such as /.put, where puts in progress live)" },
    ...clientArgs,
  },
  async run({ args }) {
    const root = remotePath(args.path || "/");
    await withClient(args, async (c) => {
      const all: (DirEntry & { path: string })[] = [];
      await walk(c, root, !!args.recursive, !!args.all, all);
      if (args.json) {
        process.stdout.write(JSON.stringify(all) + "\n");
        return;
      }
      const lines = all.map((e) => {
        const name = args.recursive ? e.path : e.name;
        if (!args.long) return name + (e.type === "dir" ? "/" : "");
        const rep = e.type === "dir" ? "-" : String(e.replication);
        return `${e.type === "dir" ? "d" : "-"} ${rep.padStart(2)} ${(args.human ? formatBytes(e.size) : String(e.size)).padStart(14)} ${String(e.chunks).padStart(6)} ${formatTime(e.mtimeMs)} ${name}${e.type === "dir" ? "/" : ""}`;
      });
      if (lines.length) process.stdout.write(lines.join("\n") + "\n");
    });
  },
});

async function walk(c: GfsClient, path: string, recursive: boolean, showHidden: boolean, out: (DirEntry & { path: string })[]): Promise<void> {
  const { entries, isFile } = await c.ls(path);
  if (isFile) {
    out.push({ ...entries[0]!, path });
    return;
  }
  for (const e of entries) {
    if (!showHidden && e.name.startsWith(".")) continue;
    const p = path === "/" ? `/${e.name}` : `${path}/${e.name}`;
    out.push({ ...e, path: p });
    if (recursive && e.type === "dir") await walk(c, p, true, showHidden, out);
  }
}
