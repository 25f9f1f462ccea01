// Record append figures (issue: many writers at once) on a running cluster,
// each run checked: the file must yield exactly the records appended.
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connect } from "../core/client";
import { encodeRecord } from "../core/client/records";

const GFS = resolve(import.meta.dir, "../dist/gfs");

export interface AppendFigure {
  name: string;
  recordBytes: number;
  records: number;
  recsPerSec: number;
  mbPerSec: number;
}

function record(bytes: number, tag: string): Uint8Array {
  const r = new Uint8Array(bytes).fill(0x61);
  r.set(new TextEncoder().encode(tag).subarray(0, bytes));
  return r;
}

async function countRecords(master: string, path: string): Promise<number> {
  const c = connect({ master });
  let n = 0;
  for await (const _ of c.readRecords(path)) n++;
  c.close();
  return n;
}

function figure(name: string, recordBytes: number, records: number, ms: number): AppendFigure {
  return { name, recordBytes, records, recsPerSec: records / (ms / 1000), mbPerSec: (records * recordBytes) / 1e6 / (ms / 1000) };
}

/** One process appending the same framed records to a local file: the limit. */
export function localAppend(recordBytes: number, records: number): AppendFigure {
  const dir = mkdtempSync(join(tmpdir(), "gfs-bench-local-"));
  const path = join(dir, "log");
  const w = new Uint8Array(8);
  const t = performance.now();
  for (let i = 0; i < records; i++) appendFileSync(path, encodeRecord(w, i, record(recordBytes, `r${i}`)));
  const ms = performance.now() - t;
  rmSync(dir, { recursive: true, force: true });
  return figure("local file, 1 process (limit)", recordBytes, records, ms);
}

/**
 * `writers` library appenders in this process. Each either awaits every
 * record before the next (`append`), or streams (`write`, then `flush`: many
 * records in flight, timed until the last is acknowledged by every replica,
 * as MooseFS's benchmark times its writes up to `close`).
 */
export async function libraryAppend(master: string, path: string, writers: number, perWriter: number, recordBytes: number, stream = false): Promise<AppendFigure> {
  const c = connect({ master });
  await c.ensureFile(path);
  const t = performance.now();
  await Promise.all(Array.from({ length: writers }, async (_, w) => {
    const a = c.appender(path);
    if (stream) {
      for (let i = 0; i < perWriter; i++) await a.write(record(recordBytes, `w${w}-${i}`));
      await a.flush();
    } else {
      for (let i = 0; i < perWriter; i++) await a.append(record(recordBytes, `w${w}-${i}`));
    }
  }));
  const ms = performance.now() - t;
  c.close();
  const n = await countRecords(master, path);
  if (n !== writers * perWriter) throw new Error(`${path}: ${n} records read back, ${writers * perWriter} appended`);
  const who = `${writers} library appender${writers > 1 ? "s" : ""}`;
  return figure(`${who}, ${stream ? "streaming (write, flush)" : "awaiting each record"}`, recordBytes, n, ms);
}

/** `procs` concurrent `gfs append --lines` processes. */
export async function cliAppend(master: string, path: string, procs: number, perProc: number, recordBytes: number): Promise<AppendFigure> {
  const inputs = Array.from({ length: procs }, (_, p) => {
    const line = "b".repeat(recordBytes - 12);
    return new TextEncoder().encode(Array.from({ length: perProc }, (_, i) => `p${p}-${String(i).padStart(7, "0")}-${line}`.slice(0, recordBytes)).join("\n") + "\n");
  });
  const c = connect({ master });
  await c.ensureFile(path);
  c.close();
  const t = performance.now();
  const codes = await Promise.all(inputs.map((input) => Bun.spawn([GFS, "append", path, "--lines"], { stdin: input, stdout: "ignore", stderr: "inherit", env: { ...process.env, GFS_MASTER: master } }).exited));
  const ms = performance.now() - t;
  if (codes.some((x) => x !== 0)) throw new Error("a gfs append process failed");
  const n = await countRecords(master, path);
  if (n !== procs * perProc) throw new Error(`${path}: ${n} records read back, ${procs * perProc} appended`);
  return figure(`${procs} \`gfs append --lines\` processes`, recordBytes, n, ms);
}

/** Time to snapshot a directory of `files` files. */
export async function snapshotTime(master: string, files: number): Promise<number> {
  const c = connect({ master });
  await c.mkdir("/snapsrc");
  for (let i = 0; i < files; i += 100) await Promise.all(Array.from({ length: Math.min(100, files - i) }, (_, k) => c.create(`/snapsrc/f${i + k}`)));
  const t = performance.now();
  await c.master("snapshot", { src: "/snapsrc", dst: "/snapdst" });
  const ms = performance.now() - t;
  c.close();
  return ms;
}
