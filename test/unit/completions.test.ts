import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { COMPLETION_FILES, completionScript } from "../../cli/completions";

describe("shell completions", () => {
  test.each(Object.entries(COMPLETION_FILES))("completions/%s matches the command definitions", async (shell, file) => {
    const committed = readFileSync(join(import.meta.dir, "../../completions", file), "utf8");
    expect(committed).toBe(await completionScript(shell));
    expect(committed).toMatch(/(--|-l )replication/);
    expect(committed).toContain("snapshot");
  });
});
