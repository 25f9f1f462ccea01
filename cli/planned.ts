// Subcommands of the contract that a later release implements: they parse
// their arguments like the real ones and say plainly that they are not here yet.
import { defineCommand, type ArgsDef } from "citty";
import { ExitError } from "./errors";
import { clientArgs } from "./options";

export function planned(name: string, description: string, args: ArgsDef) {
  return defineCommand({
    meta: { name, description: `${description} (not implemented yet)` },
    args: { ...args, ...clientArgs },
    run() {
      throw new ExitError(2, `${name} is not implemented yet in this version of gfs`);
    },
  });
}
