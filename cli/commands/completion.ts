// gfs completion: print the completion script for a shell.
import { defineCommand } from "citty";
import { completionScript } from "../completions";
import { UsageError } from "../options";

export default defineCommand({
  meta: { name: "completion", description: "Print the completion script for bash, zsh or fish" },
  args: {
    shell: { type: "positional", description: "bash, zsh or fish", required: true },
  },
  async run({ args }) {
    if (!["bash", "zsh", "fish"].includes(args.shell)) throw new UsageError(`completion: shell must be bash, zsh or fish, got '${args.shell}'`);
    process.stdout.write(await completionScript(args.shell));
  },
});
