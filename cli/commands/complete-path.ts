// gfs __complete-path PREFIX (internal, for the shell completions): the
// remote paths that start with PREFIX, directories with a trailing /, asked
// of the master named by GFS_MASTER. Quiet and quick: on any error it prints
// nothing.
import { defineCommand } from "citty";
import { connect } from "../../core/client";

export default defineCommand({
  meta: { name: "__complete-path", description: "(internal) remote paths starting with PREFIX, for shell completion" },
  args: { prefix: { type: "positional", description: "What is typed so far", required: false } },
  async run({ args }) {
    const prefix = String(args.prefix || "/");
    if (!prefix.startsWith("/")) return;
    const dir = prefix.slice(0, prefix.lastIndexOf("/") + 1) || "/";
    const c = connect({ deadlineMs: 2_000 });
    try {
      const { entries, isFile } = await c.ls(dir === "/" ? "/" : dir.slice(0, -1));
      if (isFile) return;
      const names = entries
        .filter((e) => (dir + e.name).startsWith(prefix) && (!e.name.startsWith(".") || prefix.slice(dir.length).startsWith(".")))
        .map((e) => dir + e.name + (e.type === "dir" ? "/" : ""));
      if (names.length) process.stdout.write(names.join("\n") + "\n");
    } catch {
      // No completion rather than an error in the middle of a command line.
    } finally {
      c.close();
    }
  },
});
