// Parsing shared by the commands: sizes, durations, the master address and
// the cluster secret, each with a clear error for bad input.
import { secretFromEnvironment } from "../core/client/environment";

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1000 ** 4, tib: 1024 ** 4 };

/** "1048576", "64KiB", "16MiB", "1GiB" -> bytes. */
export function parseSize(value: unknown, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(String(value ?? ""));
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new UsageError(`${flag}: '${value}' is not a size (examples: 1048576, 64KiB, 16MiB, 1GiB)`);
  const n = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(n)) throw new UsageError(`${flag}: '${value}' is too large`);
  return n;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500ms", "30s", "5m", "1h", "1d" -> milliseconds. */
export function parseDuration(value: unknown, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(String(value ?? ""));
  if (!m) throw new UsageError(`${flag}: '${value}' is not a duration (examples: 500ms, 30s, 5m, 1d)`);
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2]!]!);
}

export function parseCount(value: unknown, flag: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(String(value ?? "")) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag}: '${value}' must be a whole number from ${min} to ${max}`);
  }
  return n;
}

/** HOST:PORT, checked. */
export function parseHostPort(value: unknown, flag: string): { host: string; port: number } {
  const s = String(value ?? "");
  const i = s.lastIndexOf(":");
  const host = i > 0 ? s.slice(0, i).replace(/^\[|\]$/g, "") : "";
  const port = Number(s.slice(i + 1));
  if (i <= 0 || !host || !/^\d+$/.test(s.slice(i + 1)) || port < 0 || port > 65535) {
    throw new UsageError(`${flag}: '${s}' is not HOST:PORT`);
  }
  return { host, port };
}

export function masterAddress(flag: unknown): string {
  const v = (typeof flag === "string" && flag) || process.env.GFS_MASTER || "127.0.0.1:7070";
  for (const a of v.split(",")) parseHostPort(a.trim(), "--master");
  return v;
}

/** --secret-file, else GFS_SECRET_FILE, else GFS_SECRET; null when none is set. */
export function loadSecret(secretFile: unknown): Uint8Array | null {
  try {
    return secretFromEnvironment(typeof secretFile === "string" ? secretFile : undefined);
  } catch (err) {
    throw new UsageError(`--secret-file: ${(err as Error).message}`);
  }
}

/** Arguments every client command takes. */
export const clientArgs = {
  master: { type: "string", description: "Master HOST:PORT (or GFS_MASTER; default 127.0.0.1:7070); a comma-separated list adds shadows", valueHint: "HOST:PORT" },
  "secret-file": { type: "string", description: "File holding the cluster secret (or GFS_SECRET_FILE, GFS_SECRET)", valueHint: "PATH" },
  deadline: { type: "string", description: "How long to keep retrying while the master restarts or chunk servers come and go", default: "60s", valueHint: "DURATION" },
} as const;
