// One logger for daemons and commands: consola, one line per event, always on
// stderr so stdout stays clean for data (`gfs cat`) and machine output (--json).
// A line is `2026-11-22 21:38:12.345 INFO  master: text`: local time to the
// millisecond, the level, and who speaks (GFS_LOG_TAG names a daemon when
// several share a terminal, as under `gfs dev`).
import { createConsola, type ConsolaInstance, type LogObject } from "consola/basic";

const level = process.env.GFS_LOG_LEVEL ? Number(process.env.GFS_LOG_LEVEL) : process.env.GFS_DEBUG === "1" ? 4 : 3;

const LEVELS: Record<string, string> = { fatal: "FATAL", error: "ERROR", warn: "WARN ", info: "INFO ", success: "INFO ", ready: "INFO ", start: "INFO ", log: "INFO ", debug: "DEBUG", trace: "TRACE", verbose: "DEBUG", fail: "ERROR", box: "INFO " };

export function formatLogLine(date: Date, type: string, tag: string, text: string): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  const when = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
  return `${when} ${LEVELS[type] ?? type.toUpperCase()} ${tag ? `${tag}: ` : ""}${text.replace(/\n/g, " ")}\n`;
}

export const log: ConsolaInstance = createConsola({
  level,
  reporters: [
    {
      log(o: LogObject) {
        const text = o.args.map((a) => (a instanceof Error ? a.message : typeof a === "string" ? a : JSON.stringify(a))).join(" ");
        process.stderr.write(formatLogLine(o.date, o.type, process.env.GFS_LOG_TAG || o.tag, text));
      },
    },
  ],
});

export function logger(tag: string): ConsolaInstance {
  return log.withTag(tag);
}
