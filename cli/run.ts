// Dispatch of the `gfs` command line. Exit status: 0 success, 1 a failure the
// message explains, 2 bad usage.
import { runCommand, showUsage, type CommandDef } from "citty";
import { commands, internalCommands, rootCommand, takesManyPaths } from "./registry";
import { argsProblem, editDistance } from "./strict-args";
import { ClosedPipe } from "./stdout";
import { examples, exitStatuses } from "./examples";
import { exitCodeFor, formatError } from "./errors";

export async function main(argv: string[]): Promise<number> {
  try {
    let [name, ...rest] = argv;
    if (name === "help" && rest.length > 0) [name, ...rest] = [rest[0]!, "--help"]; // gfs help put
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
      await showUsage(rootCommand);
      return name === undefined ? 2 : 0;
    }
    if (name === "--version" || name === "-v") name = "version";
    const load = commands[name] ?? internalCommands[name];
    if (!load) {
      const near = Object.keys(commands).find((c) => editDistance(c, name!) <= 2);
      process.stderr.write(`gfs: unknown command '${name}'${near ? ` (did you mean ${near}?)` : ""} (see gfs --help)\n`);
      return 2;
    }
    const cmd = (await load()) as CommandDef<any>;
    const args = (typeof cmd.args === "function" ? await cmd.args() : await cmd.args) ?? {};
    const shortH = Object.values(args).some((d: any) => d.alias === "h" || (Array.isArray(d.alias) && d.alias.includes("h")));
    if (rest.includes("--help") || (!shortH && rest.includes("-h"))) {
      await showUsage(cmd, rootCommand as CommandDef<any>);
      const ex = examples[name];
      if (ex) console.log(`EXAMPLES\n\n${ex.map((e) => `  ${e}`).join("\n")}\n`);
      console.log(`EXIT STATUS\n\n  ${exitStatuses(name)}\n`);
      return 0;
    }
    const problem = argsProblem(args, rest, { variadic: takesManyPaths.has(name) });
    if (problem) {
      process.stderr.write(`gfs ${name}: ${problem} (see gfs ${name} --help)\n`);
      return 2;
    }
    await runCommand(cmd, { rawArgs: rest });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof ClosedPipe) return 141;
    process.stderr.write(formatError(err) + "\n");
    if (process.env.GFS_DEBUG === "1" && err instanceof Error && err.stack) process.stderr.write(err.stack + "\n");
    return exitCodeFor(err);
  }
}


