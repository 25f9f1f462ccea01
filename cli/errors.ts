// One clear line per error, and the exit status per the command-line contract.
import { ErrorCode, GfsError } from "../net/errors";
import { UsageError } from "./options";

export class ExitError extends Error {
  constructor(readonly exitCode: number, message: string) {
    super(message);
  }
}

export function formatError(err: unknown): string {
  if (err instanceof ExitError) return `gfs: ${err.message}`;
  if (err instanceof Error) {
    const msg = err.message.replace(/\u001b\[[0-9;]*m/g, "").split("\n")[0];
    return `gfs: ${msg}`;
  }
  return `gfs: ${String(err)}`;
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof ExitError) return err.exitCode;
  if (err instanceof UsageError) return 2;
  if (err instanceof GfsError) {
    return err.code === ErrorCode.INVALID_PATH || err.code === ErrorCode.INVALID_ARGUMENT || err.code === ErrorCode.NOT_IMPLEMENTED ? 2 : 1;
  }
  if (err instanceof Error && err.name === "CLIError") return 2; // citty: missing or bad arguments
  return 1;
}
