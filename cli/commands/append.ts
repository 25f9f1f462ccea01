import { planned } from "../planned";
export default planned("append", "Append the input to REMOTE as one record (or one per line with --lines) and print its offset", {
  remote: { type: "positional", description: "Remote path", required: true },
  local: { type: "positional", description: "Local file or - for standard input", required: false },
  lines: { type: "boolean", description: "Each input line is its own record" },
  raw: { type: "boolean", description: "Write the bytes without record framing" },
});
