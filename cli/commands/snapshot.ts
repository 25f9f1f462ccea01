import { planned } from "../planned";
export default planned("snapshot", "Copy a file or directory tree almost instantly (copy-on-write chunks)", {
  src: { type: "positional", description: "Remote source path", required: true },
  dst: { type: "positional", description: "Remote destination path", required: true },
});
