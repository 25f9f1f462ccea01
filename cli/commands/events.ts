// gfs events: what the master logged lately (at info and above), oldest first.
import { defineCommand } from "citty";
import type { EventLine } from "../../net/messages";
import { formatLogLine } from "../../core/log";
import { clientArgs } from "../options";
import { withClient } from "../client";

export default defineCommand({
  meta: { name: "events", description: "Print the master's recent events (chunk servers lost and back, repairs, damaged replicas, ...), oldest first" },
  args: {
    follow: { type: "boolean", alias: "f", description: "Keep printing new events as they come, until Ctrl-C" },
    json: { type: "boolean", description: "One JSON object per line: seq, timeMs, level, tag, text" },
    ...clientArgs,
  },
  async run({ args }) {
    const print = (e: EventLine) => process.stdout.write(args.json ? JSON.stringify(e) + "\n" : formatLogLine(new Date(e.timeMs), e.level, e.tag, e.text));
    await withClient(args, async (c) => {
      let after = 0;
      for (;;) {
        const { events } = await c.master("events", { afterSeq: after });
        for (const e of events) print(e);
        if (events.length) after = events.at(-1)!.seq;
        if (!args.follow) return;
        await Bun.sleep(1_000);
      }
    });
  },
});
