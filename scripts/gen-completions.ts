// Writes completions/ from the command definitions (run by `npm run build`).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { COMPLETION_FILES, completionScript } from "../cli/completions";

for (const [shell, file] of Object.entries(COMPLETION_FILES)) {
  writeFileSync(join(import.meta.dir, "..", "completions", file), await completionScript(shell));
}
