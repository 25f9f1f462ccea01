// The trash and the reclaiming of abandoned uploads (M13), as decisions.
// `rm PATH` moves PATH to /.trash/<deleted-at-ms>-<n>PATH, where it stays
// readable and `undelete PATH` brings back the newest copy; after the trash
// TTL the garbage collector erases it (and its chunks are deleted on the
// servers). Removing something that is in the trash, or a put's temporary
// file in /.put, reclaims it at once. A temporary upload with no activity for
// the upload timeout (an interrupted put) is reclaimed. Pure.

export const TRASH_DIR = "/.trash";
export const UPLOAD_DIR = "/.put";

/** Where `path`, removed at `nowMs`, goes in the trash (`n` tells apart removals in one millisecond). */
export function trashPathFor(path: string, nowMs: number, n: number): string {
  return `${TRASH_DIR}/${stampName(nowMs, n)}${path}`;
}

export function stampName(nowMs: number, n: number): string {
  return `${nowMs}-${n}`;
}

/** The removal time of a top-level trash entry, or null for a name the trash did not make. */
export function parseStamp(name: string): number | null {
  const m = /^(\d{1,16})-\d+$/.exec(name);
  return m ? Number(m[1]) : null;
}

/** Paths that are erased at once instead of going to the trash. */
export function reclaimedAtOnce(path: string, trashTtlMs: number): boolean {
  return trashTtlMs <= 0 || within(path, TRASH_DIR) || within(path, UPLOAD_DIR);
}

export function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir + "/");
}

/** Top-level trash entries whose time is up, oldest first, at most `limit`. */
export function expiredEntries(names: Iterable<string>, nowMs: number, trashTtlMs: number, limit: number): string[] {
  const out: [number, string][] = [];
  for (const name of names) {
    const t = parseStamp(name);
    // A name the trash did not make (someone's mkdir) counts as removed long ago.
    if (t === null || nowMs - t >= trashTtlMs) out.push([t ?? 0, name]);
  }
  return out.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1)).slice(0, limit).map(([, n]) => n);
}

/** Trash entries to look in for `undelete`, newest removal first. */
export function newestFirst(names: Iterable<string>): string[] {
  return [...names].filter((n) => parseStamp(n) !== null).sort((a, b) => parseStamp(b)! - parseStamp(a)! || (a < b ? 1 : -1));
}

/** Temporary uploads with no activity for `timeoutMs`. */
export function abandonedUploads(uploads: Iterable<{ path: string; lastActiveMs: number }>, nowMs: number, timeoutMs: number): string[] {
  const out: string[] = [];
  for (const u of uploads) if (nowMs - u.lastActiveMs >= timeoutMs) out.push(u.path);
  return out;
}
