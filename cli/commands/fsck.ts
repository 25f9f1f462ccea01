import { planned } from "../planned";
export default planned("fsck", "Audit files, chunks and replicas; exit 0 only when healthy", {
  path: { type: "positional", description: "Remote path", required: false },
  json: { type: "boolean", description: "One JSON object" },
});
