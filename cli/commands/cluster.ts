// gfs cluster: the master's view of the chunk servers.
import { defineCommand } from "citty";
import { clientArgs } from "../options";
import { withClient } from "../client";
import { formatBytes } from "../format";

export default defineCommand({
  meta: { name: "cluster", description: "Show the cluster's chunk size, replication and chunk servers" },
  args: {
    json: { type: "boolean", description: "One JSON object" },
    ...clientArgs,
  },
  async run({ args }) {
    await withClient(args, async (c) => {
      const info = await c.cluster();
      if (args.json) {
        process.stdout.write(JSON.stringify(info) + "\n");
        return;
      }
      const lines = [`chunk size ${formatBytes(info.chunkSize)}, replication ${info.replication}, ${info.servers.filter((s) => s.alive).length}/${info.servers.length} chunk servers alive`];
      for (const s of info.servers) {
        lines.push(`  ${s.alive ? "up  " : "DOWN"} ${s.addr.padEnd(22)} rack ${s.rack.padEnd(10)} ${String(s.chunks).padStart(8)} chunks  ${formatBytes(s.usedBytes)} used  (${s.id})`);
      }
      process.stdout.write(lines.join("\n") + "\n");
    });
  },
});
