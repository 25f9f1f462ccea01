#!/usr/bin/env bun
// The `gfs` executable: one binary, every subcommand (loaded lazily).
// Colours only on a terminal: the help renderer decides when it is loaded.
if (!process.stdout.isTTY && process.env.NO_COLOR === undefined) process.env.NO_COLOR = "1";
const { main } = await import("./run");
const code = await main(process.argv.slice(2));
// Let stdout drain (a `cat` into a pipe) before leaving.
await new Promise<void>((r) => process.stdout.write("", () => r()));
process.exit(code);
export {};
