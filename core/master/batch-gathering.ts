// Group commit's other half: when to write the next batch of changes. Clients
// that await each change come back right after their acknowledgement; writing
// at once would split them into two groups, each waiting out the other's
// write (8 clients: batches of 4). So after a write the next batch waits, at
// most GATHER_MS, until as many changes are pending as there were clients in
// the last round: those just acknowledged and those already waiting. A client
// that does not come back costs one wait, after which the target is what did
// come; a client that comes back later than GATHER_MS after the write is
// written at once.
export const GATHER_MS = 1;

export class BatchGathering {
  /** Pending changes that end the wait. */
  target = 0;
  private untilMs = 0;

  /** A batch of `acknowledged` changes was written; `waiting` changes were pending meanwhile. */
  written(acknowledged: number, waiting: number, nowMs: number): void {
    this.target = acknowledged + waiting;
    this.untilMs = nowMs + GATHER_MS;
  }

  /** How long to wait with `pending` changes before writing them: 0 to write now. */
  waitMs(pending: number, nowMs: number): number {
    return pending >= this.target ? 0 : Math.max(0, this.untilMs - nowMs);
  }
}

/** The clock's side of BatchGathering: a wait that ends at its deadline, or early once enough changes are pending. */
export class GatherWait {
  private wake: (() => void) | null = null;

  constructor(readonly policy = new BatchGathering()) {}

  /** Waits as the policy says with `pending` changes (resolves at once when it says write now). */
  wait(pending: number): Promise<void> {
    const ms = this.policy.waitMs(pending, performance.now());
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.end(), ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }

  /** Told of each new change: `pending` are waiting now. */
  offered(pending: number): void {
    if (this.wake && pending >= this.policy.target) this.wake();
  }

  /** Ends the current wait (the log is closing). */
  end(): void {
    this.wake?.();
  }

  written(acknowledged: number, waiting: number): void {
    this.policy.written(acknowledged, waiting, performance.now());
  }
}
