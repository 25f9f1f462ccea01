// gfs cluster: the masters (each asked directly: role, epoch, log lag) and the
// chunk servers, as the master sees them.
import { defineCommand } from "citty";
import type { ServerStatus } from "../../net/messages";
import { clientArgs } from "../options";
import { withClient } from "../client";
import { formatBytes, formatTime } from "../format";

/** A chunk server as `cluster --json` shows it (CLI.md). */
export interface ChunkServerView {
  id: string;
  address: string;
  rack: string;
  state: "up" | "lost" | "draining";
  /** While lost: since when (ISO 8601). */
  lostSince?: string;
  diskUsed: number;
  diskTotal: number;
  chunks: number;
  lastHeartbeatMsAgo: number;
}

export function chunkServerView(s: ServerStatus): ChunkServerView {
  return {
    id: s.id, address: s.addr, rack: s.rack, state: !s.alive ? "lost" : s.draining ? "draining" : "up",
    ...(s.lostAtMs ? { lostSince: new Date(s.lostAtMs).toISOString() } : {}),
    diskUsed: s.usedBytes, diskTotal: s.capacityBytes, chunks: s.chunks, lastHeartbeatMsAgo: s.lastHeartbeatMsAgo,
  };
}

export default defineCommand({
  meta: { name: "cluster", description: "Show the masters and chunk servers: state, rack, disk use, chunks" },
  args: {
    json: { type: "boolean", description: "One JSON object: chunkSize, replication, masters, chunkservers" },
    ...clientArgs,
  },
  async run({ args }) {
    await withClient(args, async (c) => {
      const [info, masters] = await Promise.all([c.cluster(), c.masterRoles()]);
      const servers = info.servers.map(chunkServerView);
      if (args.json) {
        process.stdout.write(JSON.stringify({ chunkSize: info.chunkSize, replication: info.replication, masters, chunkservers: servers }) + "\n");
        return;
      }
      const count = (state: string) => servers.filter((s) => s.state === state).length;
      const states = [`${count("up")} up`, ...(count("draining") ? [`${count("draining")} draining`] : []), ...(count("lost") ? [`${count("lost")} lost`] : [])];
      const lines =
        masters.length === 1 && masters[0]!.role === "single"
          ? [`master ${masters[0]!.address} (single); chunk size ${formatBytes(info.chunkSize)}, replication ${info.replication}; ${servers.length} chunk servers: ${states.join(", ")}`]
          : [
              `${masters.length} masters; chunk size ${formatBytes(info.chunkSize)}, replication ${info.replication}; ${servers.length} chunk servers: ${states.join(", ")}`,
              ...masters.map((m) =>
                "error" in m
                  ? `  UNREACHABLE ${m.address.padEnd(22)} ${m.error}`
                  : `  ${m.role.padEnd(11)} ${m.address.padEnd(22)} epoch ${m.epoch}${m.role === "standby" ? `, ${m.lagMs} ms behind the log${m.leader ? `, following ${m.leader}` : ""}` : ""}${m.appliedOp !== undefined ? `, change ${m.appliedOp}` : ""}`,
              ),
              "chunk servers:",
            ];
      for (const s of servers) {
        const use = s.diskTotal > 0 ? `${formatBytes(s.diskUsed)} of ${formatBytes(s.diskTotal)} (${Math.round((100 * s.diskUsed) / s.diskTotal)}%)` : "disk not reported";
        const state = s.state === "lost" ? `LOST since ${formatTime(Date.parse(s.lostSince!))}` : s.state === "draining" ? "DRAINING" : s.state;
        lines.push(`  ${state.padEnd(8)} ${s.address.padEnd(22)} rack ${s.rack.padEnd(10)} ${String(s.chunks).padStart(8)} chunks  ${use}  (${s.id})`);
      }
      process.stdout.write(lines.join("\n") + "\n");
    });
  },
});
