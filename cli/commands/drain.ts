// gfs drain SERVER [--cancel] [--wait]: empty a chunk server before taking it away.
import { defineCommand } from "citty";
import { clientArgs } from "../options";
import { withClient } from "../client";

export default defineCommand({
  meta: {
    name: "drain",
    description: "Copy a chunk server's replicas elsewhere while it keeps serving reads; when no chunk needs it any more it can be stopped (the drain is held by the master until it restarts)",
  },
  args: {
    server: { type: "positional", description: "The server's address or id (gfs cluster shows both)", required: true },
    cancel: { type: "boolean", description: "Stop draining it" },
    wait: { type: "boolean", description: "Wait until no chunk needs it, printing the progress on a terminal" },
    quiet: { type: "boolean", alias: "q", description: "With --wait, no progress lines (there are none when the output is not a terminal)" },
    ...clientArgs,
  },
  async run({ args }) {
    await withClient(args, async (c) => {
      let r = await c.drain(String(args.server), !!args.cancel);
      const say = () => {
        if (!r.draining) process.stdout.write(`${r.addr}: not draining\n`);
        else if (r.chunksDependingOnIt === 0) process.stdout.write(`${r.addr}: drained; no chunk needs it, it can be stopped\n`);
        else process.stdout.write(`${r.addr}: draining; ${r.chunksDependingOnIt} chunks still need it\n`);
      };
      say();
      if (!args.wait || !r.draining) return;
      let last = r.chunksDependingOnIt;
      const first = last;
      const t0 = Date.now();
      while (r.chunksDependingOnIt > 0) {
        await new Promise((res) => setTimeout(res, 1000));
        r = await c.drain(String(args.server));
        const showProgress = process.stdout.isTTY && !args.quiet;
        if (r.chunksDependingOnIt !== last && r.chunksDependingOnIt > 0) {
          if (!showProgress) {
            last = r.chunksDependingOnIt;
            continue;
          }
          // The rate so far, and the time left at it.
          const perSec = (first - r.chunksDependingOnIt) / Math.max(0.001, (Date.now() - t0) / 1000);
          const left = perSec > 0 ? `, about ${Math.ceil(r.chunksDependingOnIt / perSec)} s left` : "";
          process.stdout.write(`${r.addr}: draining; ${r.chunksDependingOnIt} chunks still need it (${perSec.toFixed(1)} chunks/s${left})\n`);
        } else if (r.chunksDependingOnIt !== last) say();
        last = r.chunksDependingOnIt;
      }
    });
  },
});
