import { planned } from "../planned";
export default planned("setrep", "Set the replication target of a file or directory", {
  n: { type: "positional", description: "Replicas", required: true },
  path: { type: "positional", description: "Remote path", required: true },
});
