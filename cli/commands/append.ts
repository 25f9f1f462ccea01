// gfs append: record append, for many writers at once.
import { existsSync } from "node:fs";
import { defineCommand } from "citty";
import { ErrorCode, GfsError } from "../../net/errors";
import { clientArgs, UsageError } from "../options";
import { remotePath, withClient } from "../client";

export default defineCommand({
  meta: { name: "append", description: "Append the input to REMOTE as one record (or one per line with --lines) and print its offset; safe from many processes at once" },
  args: {
    remote: { type: "positional", description: "Remote path (created, with its parents, if missing)", required: true },
    local: { type: "positional", description: "Local file, or - for standard input (the default)", required: false },
    lines: { type: "boolean", description: "Each input line is its own record; streams (pipe a producer into it)" },
    raw: { type: "boolean", description: "Write the bytes without record framing" },
    ...clientArgs,
  },
  async run({ args }) {
    const remote = remotePath(args.remote, "REMOTE");
    const local = args.local ?? "-";
    if (local !== "-" && !existsSync(local)) throw new UsageError(`${local}: no such local file`);
    const input = (local === "-" ? Bun.stdin.stream() : Bun.file(local).stream()) as unknown as AsyncIterable<Uint8Array>;
    await withClient(args, async (c) => {
      if (!args.lines) {
        // The whole input first: one that is too large creates nothing.
        const { chunkSize } = await c.cluster();
        const parts: Uint8Array[] = [];
        let total = 0;
        for await (const part of input) {
          total += part.byteLength;
          if (total > chunkSize / 4) throw new GfsError(ErrorCode.RECORD_TOO_LARGE, `the input is over a quarter of the chunk size (${chunkSize / 4} bytes), the largest record there can be`);
          parts.push(part);
        }
        await c.ensureFile(remote);
        const offset = await c.appender(remote, { raw: args.raw }).append(Buffer.concat(parts));
        process.stdout.write(`${offset}\n`);
        return;
      }
      // Streams: many lines in flight (a bounded window), sent in batches.
      await c.ensureFile(remote);
      const appender = c.appender(remote, { raw: args.raw });
      for await (const line of splitLines(input)) await appender.write(line);
      await appender.flush();
    });
  },
});

/** Lines of a byte stream, without their newline; a last line without one counts too. */
async function* splitLines(input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let carry: Uint8Array = new Uint8Array(0);
  for await (const chunk of input) {
    const buf = carry.byteLength ? Buffer.concat([carry, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    for (let nl = buf.indexOf(10, start); nl >= 0; nl = buf.indexOf(10, start)) {
      yield buf.slice(start, nl);
      start = nl + 1;
    }
    carry = buf.slice(start);
  }
  if (carry.byteLength > 0) yield carry;
}
