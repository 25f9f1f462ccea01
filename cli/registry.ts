// The list of subcommands, loaded lazily so `gfs cat` does not load the master.
import { defineCommand, type CommandDef } from "citty";
import pkg from "../package.json" with { type: "json" };

export const commands: Record<string, () => Promise<CommandDef<any>>> = {
  master: () => import("./commands/master").then((m) => m.default),
  chunkserver: () => import("./commands/chunkserver").then((m) => m.default),
  dev: () => import("./commands/dev").then((m) => m.default),
  put: () => import("./commands/put").then((m) => m.default),
  cat: () => import("./commands/cat").then((m) => m.default),
  append: () => import("./commands/append").then((m) => m.default),
  ls: () => import("./commands/ls").then((m) => m.default),
  stat: () => import("./commands/stat").then((m) => m.default),
  mkdir: () => import("./commands/mkdir").then((m) => m.default),
  mv: () => import("./commands/mv").then((m) => m.default),
  rm: () => import("./commands/rm").then((m) => m.default),
  undelete: () => import("./commands/undelete").then((m) => m.default),
  snapshot: () => import("./commands/snapshot").then((m) => m.default),
  setrep: () => import("./commands/setrep").then((m) => m.default),
  fsck: () => import("./commands/fsck").then((m) => m.default),
  rebalance: () => import("./commands/rebalance").then((m) => m.default),
  drain: () => import("./commands/drain").then((m) => m.default),
  cluster: () => import("./commands/cluster").then((m) => m.default),
  events: () => import("./commands/events").then((m) => m.default),
  "rpc-log": () => import("./commands/rpc-log").then((m) => m.default),
  completion: () => import("./commands/completion").then((m) => m.default),
  version: () => import("./commands/version").then((m) => m.default),
};

/** Commands gfs runs for itself, left out of help and completions. */
export const internalCommands: Record<string, () => Promise<CommandDef<any>>> = {
  "write-checkpoint": () => import("./commands/write-checkpoint").then((m) => m.default),
  "__complete-path": () => import("./commands/complete-path").then((m) => m.default),
};

/** Commands whose last positional takes any number of paths. */
export const takesManyPaths = new Set(["cat", "rm", "mkdir"]);

export const rootCommand = defineCommand({
  meta: { name: "gfs", version: pkg.version, description: "A distributed file system: one master, many chunk servers, record append" },
  subCommands: commands,
});
