// gfs stat: a file's or directory's metadata, with every chunk and replica.
import { defineCommand } from "citty";
import { handleName } from "../../core/handles";
import { clientArgs } from "../options";
import { remotePath, withClient } from "../client";
import { formatBytes, formatTime } from "../format";

export default defineCommand({
  meta: { name: "stat", description: "Show a file's size, chunks, versions and replica locations" },
  args: {
    path: { type: "positional", description: "Remote path", required: true },
    json: { type: "boolean", description: "One JSON object" },
    ...clientArgs,
  },
  async run({ args }) {
    const path = remotePath(args.path);
    await withClient(args, async (c) => {
      const st = await c.stat(path);
      const chunks = st.chunkList.map((ch) => ({
        index: ch.index,
        handle: handleName(ch.handle), // 16 hex digits, as in logs and chunk file names
        version: ch.version,
        size: ch.size,
        replicas: ch.replicas.map((r) => ({ server: r.addr, rack: r.rack, id: r.id })),
        ...(ch.primary ? { primary: ch.primary } : {}),
      }));
      if (args.json) {
        const out = { path: st.path, type: st.type, size: st.size, mtimeMs: st.mtimeMs, replication: st.replication, chunkSize: st.chunkSize, chunkCount: st.chunks, chunks };
        process.stdout.write(JSON.stringify(out) + "\n");
        return;
      }
      const lines = [
        `path:        ${st.path}`,
        `type:        ${st.type}`,
        ...(st.type === "file"
          ? [`size:        ${st.size} (${formatBytes(st.size)})`, `replication: ${st.replication}`, `chunks:      ${st.chunks} of ${formatBytes(st.chunkSize)}`]
          : []),
        `modified:    ${formatTime(st.mtimeMs)}`,
      ];
      for (const ch of chunks) {
        const reps = ch.replicas.map((r) => `${r.server}/${r.rack}${r.server === ch.primary ? "*" : ""}`).join(" ") || "(no live replica)";
        lines.push(`  [${ch.index}] ${ch.handle} v${ch.version} ${ch.size} B  ${reps}`);
      }
      process.stdout.write(lines.join("\n") + "\n");
    });
  },
});
