// gfs fsck: the integrity audit (O1). Exit 0 healthy, 1 problems found.
import { defineCommand } from "citty";
import { clientArgs } from "../options";
import { remotePath, withClient } from "../client";
import { formatBytes } from "../format";

export default defineCommand({
  meta: { name: "fsck", description: "Audit files, chunks and replicas below a path; exit 0 only when healthy" },
  args: {
    path: { type: "positional", description: "Remote path", default: "/", required: false },
    json: { type: "boolean", description: "One JSON object: healthy, counts, and the problems found" },
    ...clientArgs,
  },
  async run({ args }) {
    const path = remotePath(args.path || "/");
    await withClient(args, async (c) => {
      const [r, masters] = await Promise.all([c.fsck(path), c.masters.length > 1 ? c.masterRoles() : Promise.resolve([])]);
      if (!r.healthy) process.exitCode = 1;
      if (args.json) {
        process.stdout.write(JSON.stringify(masters.length ? { ...r, masters } : r) + "\n");
        return;
      }
      const lines = r.problems.map((p) => `${p.path} chunk ${p.index} (${p.chunk}): ${p.problem}`);
      if (r.problemsOmitted) lines.push(`... and ${r.problemsOmitted} more problems`);
      const counts = (["underReplicated", "overReplicated", "missing", "corrupt", "misplaced"] as const).filter((k) => r[k] > 0).map((k) => `${r[k]} ${k.replace(/[A-Z]/g, (m) => ` ${m.toLowerCase()}`)}`);
      lines.push(
        `${path}: ${r.files} files, ${r.directories} directories, ${r.chunks} chunks, ${formatBytes(r.bytes)}`,
        r.healthy ? `HEALTHY${r.repairing ? ` (${r.repairing} chunks being copied)` : ""}${r.stale ? `, ${r.stale} stale replicas awaiting deletion` : ""}` : `PROBLEMS: ${counts.join(", ")}${r.repairing ? `; ${r.repairing} chunks being copied` : ""}`,
      );
      // HA: which master answered is not fixed; each one's role and lag says how current the audit is.
      for (const m of masters) lines.push("error" in m ? `master ${m.address}: unreachable` : `master ${m.address}: ${m.role}, epoch ${m.epoch}${m.role === "standby" ? `, ${m.lagMs} ms behind the log` : ""}`);
      process.stdout.write(lines.join("\n") + "\n");
    });
  },
});
