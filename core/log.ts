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
  return `${when} ${LEVELS[type] ?? type.toUpperCase().padEnd(5)} ${tag ? `${tag}: ` : ""}${text.replace(/\n/g, " ")}\n`;
}

/** One logged event, as `gfs events` and the status page show it. */
export interface LoggedEvent {
  seq: number;
  timeMs: number;
  level: string;
  tag: string;
  text: string;
}

const EVENTS_KEPT = 500;
const events: LoggedEvent[] = [];
let eventSeq = 0;

/** The events at info level and above logged after `afterSeq` (the last EVENTS_KEPT at most). */
export function recentEvents(afterSeq = 0): LoggedEvent[] {
  return events.filter((e) => e.seq > afterSeq);
}

function remember(e: Omit<LoggedEvent, "seq">): void {
  events.push({ seq: ++eventSeq, ...e });
  if (events.length > EVENTS_KEPT) events.splice(0, events.length - EVENTS_KEPT);
}

export const log: ConsolaInstance = createConsola({
  level,
  reporters: [
    {
      log(o: LogObject) {
        const text = o.args.map((a) => (a instanceof Error ? a.message : typeof a === "string" ? a : JSON.stringify(a))).join(" ");
        const tag = process.env.GFS_LOG_TAG || o.tag;
        if (o.level <= 3) remember({ timeMs: o.date.getTime(), level: (LEVELS[o.type] ?? o.type).trim().toLowerCase(), tag, text });
        process.stderr.write(formatLogLine(o.date, o.type, tag, text));
      },
    },
  ],
});

export function logger(tag: string): ConsolaInstance {
  return log.withTag(tag);
}
