// Where a client finds its cluster when the caller does not say: the master
// list in GFS_MASTER, the secret in the file GFS_SECRET_FILE names or in
// GFS_SECRET, as for the gfs command. A secret file holds the secret as text;
// surrounding whitespace (a final newline) is not part of it.
import { readFileSync } from "node:fs";
import { ErrorCode, GfsError } from "../../net/errors";

export const DEFAULT_MASTER = "127.0.0.1:7070";

/** The master list: `given`, else GFS_MASTER, else 127.0.0.1:7070. */
export function masterFromEnvironment(given?: string | string[]): string[] {
  const v = given ?? (process.env.GFS_MASTER || DEFAULT_MASTER);
  return (Array.isArray(v) ? v : v.split(",")).map((s) => s.trim()).filter(Boolean);
}

/** The secret in `file`, else GFS_SECRET_FILE's file, else GFS_SECRET; null when none is set. */
export function secretFromEnvironment(file?: string): Uint8Array | null {
  const path = file || process.env.GFS_SECRET_FILE;
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      throw new GfsError(ErrorCode.INVALID_ARGUMENT, `cannot read the secret file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const secret = text.trim();
    if (!secret) throw new GfsError(ErrorCode.INVALID_ARGUMENT, `the secret file ${path} is empty`);
    return new TextEncoder().encode(secret);
  }
  const env = process.env.GFS_SECRET;
  return env ? new TextEncoder().encode(env) : null;
}
