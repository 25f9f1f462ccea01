import { planned } from "../planned";
export default planned("undelete", "Restore a file from the trash", {
  path: { type: "positional", description: "Remote path", required: true },
});
