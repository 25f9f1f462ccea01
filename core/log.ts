// One logger for daemons and commands: consola, one line per event, always on
// stderr so stdout stays clean for data (`gfs cat`) and machine output (--json).
import { createConsola, type ConsolaInstance } from "consola/basic";

const level = process.env.GFS_LOG_LEVEL ? Number(process.env.GFS_LOG_LEVEL) : process.env.GFS_DEBUG === "1" ? 4 : 3;

export const log: ConsolaInstance = createConsola({
  level,
  stdout: process.stderr,
  stderr: process.stderr,
  formatOptions: { date: true, colors: false, compact: true },
});

export function logger(tag: string): ConsolaInstance {
  return log.withTag(tag);
}
