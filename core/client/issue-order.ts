// Requests that must leave in the order they were made (the writes of one
// put, the append batches of one file), while the work before each request
// (pushing its data) runs concurrently. Each request takes a turn when it is
// made. A first send goes once every earlier turn has sent to the same place
// (a chunk at a version, for record append) or is over. A turn that failed
// and sends again (`retry`) goes once every earlier turn is over, and later
// turns wait until it is over too: a record append that met a full chunk
// lands in the next chunk before the batches made after it, and no batch
// sent to a newer chunk passes one still in flight to an older chunk.

type State = "new" | "sent" | "retry" | "over";

export class IssueOrder {
  /** Turns not over yet, in the order they were taken. */
  private turns: Turn[] = [];

  take(): Turn {
    const t = new Turn(this);
    this.turns.push(t);
    return t;
  }

  /** Whether `t` may send now, to `to`. */
  mayGo(t: Turn, to: string | undefined): boolean {
    for (const earlier of this.turns) {
      if (earlier === t) return true;
      if (earlier.state === "over") continue;
      if (t.state === "retry" || earlier.state !== "sent" || earlier.to !== to) return false;
    }
    return true;
  }

  /** A turn changed state: drop the ones over from the front, wake those that may go. */
  changed(): void {
    while (this.turns.length > 0 && this.turns[0]!.state === "over") this.turns.shift();
    for (const t of this.turns) t.wake();
  }
}

export class Turn {
  state: State = "new";
  /** Where the request goes (or went). */
  to: string | undefined;
  private waiters: (() => void)[] = [];

  constructor(private readonly order: IssueOrder) {}

  /** Resolves once this turn may send to `to` (at once if it is over). */
  wait(to?: string): Promise<void> {
    this.to = to;
    if (this.state === "over" || this.order.mayGo(this, to)) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  /** The request has gone: call right after sending it, having awaited `wait()`. */
  sent(): void {
    if (this.state !== "new") return; // a retry keeps later turns waiting until it is over
    this.state = "sent";
    this.order.changed();
  }

  /** The request failed and will be sent again, in order: later turns wait until it is over. */
  retry(): void {
    if (this.state === "over") return;
    this.state = "retry";
    this.order.changed();
  }

  /** This turn no longer keeps order (done, given up, or retrying out of order): later turns go on. */
  pass(): void {
    if (this.state === "over") return;
    this.state = "over";
    this.order.changed();
  }

  wake(): void {
    if (this.waiters.length === 0 || (this.state !== "over" && !this.order.mayGo(this, this.to))) return;
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }
}
