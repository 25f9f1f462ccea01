// Dispatch of the `gfs` command line. Exit status: 0 success, 1 a failure the
// message explains, 2 bad usage.
import { runCommand, showUsage, type CommandDef } from "citty";
import { commands, rootCommand } from "./registry";
import { exitCodeFor, formatError } from "./errors";

export async function main(argv: string[]): Promise<number> {
  try {
    const [name, ...rest] = argv;
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
      await showUsage(rootCommand);
      return name === undefined ? 2 : 0;
    }
    if (name === "--version" || name === "-v") {
      console.log(rootCommand.meta && "version" in rootCommand.meta ? rootCommand.meta.version : "");
      return 0;
    }
    const load = commands[name];
    if (!load) {
      process.stderr.write(`gfs: unknown command '${name}' (see gfs --help)\n`);
      return 2;
    }
    const cmd = (await load()) as CommandDef<any>;
    if (rest.includes("--help") || rest.includes("-h")) {
      await showUsage(cmd, rootCommand as CommandDef<any>);
      return 0;
    }
    await runCommand(cmd, { rawArgs: rest });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    process.stderr.write(formatError(err) + "\n");
    if (process.env.GFS_DEBUG === "1" && err instanceof Error && err.stack) process.stderr.write(err.stack + "\n");
    return exitCodeFor(err);
  }
}

