// Namespace locks (M2). An operation takes read locks on every ancestor of
// the paths it touches and a read or write lock on the paths themselves.
// Locks are allocated on first use and dropped when free, and always taken
// in one total order (by depth, then by name) so two operations never wait
// on each other in a cycle. Creates in one directory share its read lock and
// run in parallel; a snapshot of a directory (write lock) and a create in it
// (read lock on it) are serialized. Pure: no IO, only promises.

export type LockMode = "read" | "write";

interface LockState {
  readers: number;
  writer: boolean;
  queue: { mode: LockMode; grant: () => void }[];
}

export interface LockRequest {
  path: string;
  mode: LockMode;
}

export function ancestorsOf(path: string): string[] {
  const out = ["/"];
  if (path === "/") return [];
  let at = 0;
  for (;;) {
    at = path.indexOf("/", at + 1);
    if (at < 0) break;
    out.push(path.slice(0, at));
  }
  return out;
}

/** Read locks on the ancestors of each path and `mode` locks on the paths, merged and ordered. */
export function lockPlan(paths: readonly string[], mode: LockMode): LockRequest[] {
  const want = new Map<string, LockMode>();
  for (const p of paths) for (const a of ancestorsOf(p)) if (!want.has(a)) want.set(a, "read");
  for (const p of paths) want.set(p, mode); // a named path may also be another's ancestor: its own mode wins
  return [...want].map(([path, m]) => ({ path, mode: m })).sort(byLockOrder);
}

function depth(path: string): number {
  if (path === "/") return 0;
  let n = 0;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) n++;
  return n;
}

export function byLockOrder(a: LockRequest, b: LockRequest): number {
  return depth(a.path) - depth(b.path) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
}

export class NamespaceLocks {
  private readonly locks = new Map<string, LockState>();

  /** Number of paths with a lock held or awaited (for tests and status). */
  get size(): number {
    return this.locks.size;
  }

  /** Takes every lock of the plan in order; resolves with the function that releases them all. */
  async acquire(plan: readonly LockRequest[]): Promise<() => void> {
    const held: LockRequest[] = [];
    for (let i = 0; i < plan.length; i++) {
      if (i > 0 && byLockOrder(plan[i - 1]!, plan[i]!) >= 0) throw new Error("lock plan is not in lock order");
      await this.lock(plan[i]!);
      held.push(plan[i]!);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const r of held.reverse()) this.unlock(r);
    };
  }

  private lock(r: LockRequest): Promise<void> {
    let s = this.locks.get(r.path);
    if (!s) {
      s = { readers: 0, writer: false, queue: [] };
      this.locks.set(r.path, s);
    }
    // Grant at once only when compatible and nobody is queued ahead (FIFO keeps writers from starving).
    if (s.queue.length === 0 && !s.writer && (r.mode === "read" || s.readers === 0)) {
      if (r.mode === "read") s.readers++;
      else s.writer = true;
      return Promise.resolve();
    }
    return new Promise<void>((grant) => s!.queue.push({ mode: r.mode, grant }));
  }

  private unlock(r: LockRequest): void {
    const s = this.locks.get(r.path)!;
    if (r.mode === "read") s.readers--;
    else s.writer = false;
    while (s.queue.length > 0 && !s.writer) {
      const next = s.queue[0]!;
      if (next.mode === "write" && s.readers > 0) break;
      s.queue.shift();
      if (next.mode === "read") s.readers++;
      else s.writer = true;
      next.grant();
    }
    if (s.readers === 0 && !s.writer && s.queue.length === 0) this.locks.delete(r.path);
  }
}
