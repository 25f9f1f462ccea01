#!/usr/bin/env bun
// The `gfs` executable: one binary, every subcommand (loaded lazily).
// Colours only on a terminal: the help renderer decides when it is loaded.
if (!process.stdout.isTTY && process.env.NO_COLOR === undefined) process.env.NO_COLOR = "1";
// Small outputs go through process.stdout: a reader that went away ends the
// command quietly (status 141, like coreutils), a failed write with one line.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code !== "EPIPE") process.stderr.write(`gfs: writing standard output: ${err.message}\n`);
  process.exit(err.code === "EPIPE" ? 141 : 1);
});
const { main } = await import("./run");
const code = await main(process.argv.slice(2));
// Let stdout drain (a listing into a pipe) before leaving.
if (process.stdout.writableLength > 0) await new Promise<void>((r) => process.stdout.write("", () => r()));
process.exit(code);
export {};
