// gfs rebalance [--threshold PCT] [--wait] [--dry-run] (M12).
import { defineCommand } from "citty";
import { clientArgs, parseCount } from "../options";
import { withClient } from "../client";
import { formatBytes } from "../format";

export default defineCommand({
  meta: { name: "rebalance", description: "Move replicas (copy, then drop the source) until every server's disk use is within the threshold of the average; repairs go first" },
  args: {
    threshold: { type: "string", description: "Allowed distance from the average disk use, in percentage points", default: "10", valueHint: "PCT" },
    wait: { type: "boolean", description: "Wait until done, printing the progress on a terminal" },
    quiet: { type: "boolean", alias: "q", description: "With --wait, no progress lines (there are none when the output is not a terminal)" },
    "dry-run": { type: "boolean", description: "Print the moves it would start now, and change nothing" },
    ...clientArgs,
  },
  async run({ args }) {
    const threshold = parseCount(args.threshold, "--threshold", 1, 100);
    await withClient(args, async (c) => {
      const r = await c.rebalance(threshold, { dryRun: !!args["dry-run"] });
      const out = (s: string) => process.stdout.write(s + "\n");
      out(`largest distance from the average disk use: ${r.imbalancePct.toFixed(1)} points (threshold ${threshold})`);
      if (r.plan.length === 0 && !r.active) out("balanced: nothing to move");
      else {
        out(`${args["dry-run"] ? "would move" : "moving"} ${r.plan.length}${r.plan.length === 1000 ? "+" : ""} replicas in this round:`);
        for (const m of r.plan.slice(0, 20)) out(`  chunk ${m.chunk}: ${m.from} -> ${m.to}`);
        if (r.plan.length > 20) out(`  ... and ${r.plan.length - 20} more`);
      }
      if (args["dry-run"] || !args.wait) return;
      let s = r;
      let last = -1;
      const t0 = Date.now();
      while (s.active) {
        await new Promise((res) => setTimeout(res, 200));
        s = await c.rebalance(threshold, { status: true });
        const rate = s.movedBytes / 1e6 / Math.max(0.001, (Date.now() - t0) / 1000);
        if (s.moved !== last && process.stdout.isTTY && !args.quiet) out(`moved ${s.moved} replicas (${formatBytes(s.movedBytes)}, ${rate.toFixed(1)} MB/s); largest distance ${s.imbalancePct.toFixed(1)} points`);
        last = s.moved;
      }
      out(`done: largest distance from the average ${s.imbalancePct.toFixed(1)} points`);
    });
  },
});
