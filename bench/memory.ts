// Master memory per file+chunk: the master's own structures (namespace, chunk
// table, locations of 3 replicas) filled with one-chunk files in this process,
// measured as heap growth after a full GC (JSC's heap size includes typed
// array storage) and as RSS growth.
import { heapStats } from "bun:jsc";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { recover, writeCheckpoint } from "../core/master/checkpoint";
import { ServerRegistry } from "../core/master/servers";
import { MasterState } from "../core/master/state";

export async function masterMemory(files: number): Promise<{ heapPerFile: number; rssPerFile: number; checkpointMs: number; restartMs: number }> {
  const state = new MasterState({ chunkSizeBytes: 64 * 1024 * 1024, replication: 3 });
  const servers = new ServerRegistry();
  for (const id of ["cs-a", "cs-b", "cs-c"]) servers.upsert(id, `${id}:7080`, "default", Date.now());
  Bun.gc(true);
  const heap0 = heapStats().heapSize;
  const rss0 = process.memoryUsage().rss;
  state.apply({ o: "handles", n: files + 1 });
  const perDir = 100_000;
  for (let i = 0; i < files; i++) {
    if (i % perDir === 0) state.apply({ o: "mkdir", p: `/d${i / perDir}`, t: Date.now() });
    const p = `/d${Math.floor(i / perDir)}/file-${i}`;
    state.apply({ o: "create", p, r: 3, t: 1_700_000_000_000 + i });
    state.apply({ o: "chunk", p, h: i + 1, v: 1 });
    for (const id of ["cs-a", "cs-b", "cs-c"]) servers.addLocation(i + 1, id);
  }
  Bun.gc(true);
  const heapPerFile = (heapStats().heapSize - heap0) / files;
  const rssPerFile = (process.memoryUsage().rss - rss0) / files;
  if (state.fileCount !== files) throw new Error("memory bench built the wrong number of files");
  // Restart time at this size: write the state as a checkpoint, then recover from it.
  const dir = mkdtempSync(join(tmpdir(), "gfs-bench-ckpt-"));
  let t = performance.now();
  writeCheckpoint(dir, state, 1);
  const checkpointMs = performance.now() - t;
  t = performance.now();
  const back = recover(dir, state.params);
  const restartMs = performance.now() - t;
  rmSync(dir, { recursive: true, force: true });
  if (back.state.fileCount !== files || back.state.chunks.size !== files) throw new Error("recovery lost files");
  return { heapPerFile, rssPerFile, checkpointMs, restartMs };
}
