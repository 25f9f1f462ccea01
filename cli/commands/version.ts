// gfs version: what this binary is.
import { defineCommand } from "citty";
import pkg from "../../package.json" with { type: "json" };
import { PROTOCOL_VERSION } from "../../net/messages";

/** Set at build time (package.json's build script) to the commit built. */
declare const GFS_COMMIT: string | undefined;

export function versionLine(): string {
  const commit = typeof GFS_COMMIT === "string" && GFS_COMMIT ? GFS_COMMIT : "unknown";
  return `gfs ${pkg.version} (commit ${commit}, protocol ${PROTOCOL_VERSION})`;
}

export default defineCommand({
  meta: { name: "version", description: "Print the version, the commit it was built from and the wire protocol version" },
  args: {},
  run() {
    console.log(versionLine());
  },
});
