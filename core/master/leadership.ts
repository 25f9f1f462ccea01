// Leadership among HA masters (M16), as plain state: how long this master may
// still act as leader, and how far behind the replicated log a standby may
// be. No clocks or sockets here: callers pass the time.

/**
 * The leader's term. etcd counts a lease's TTL from when it receives a
 * keep-alive, which is after we sent it, so "sent + TTL" is a bound that
 * expires no later than etcd's own: past it, this master stops acting as
 * leader even before it hears that it lost the key.
 */
export class LeaderTerm {
  private validUntilMs = 0;

  constructor(readonly epoch: number, private readonly ttlMs: number, wonAtSentMs: number) {
    this.validUntilMs = wonAtSentMs + ttlMs;
  }

  /** A keep-alive sent at `sentAtMs` was answered with the lease alive. */
  renewed(sentAtMs: number): void {
    this.validUntilMs = Math.max(this.validUntilMs, sentAtMs + this.ttlMs);
  }

  valid(nowMs: number): boolean {
    return nowMs < this.validUntilMs;
  }

  remainingMs(nowMs: number): number {
    return Math.max(0, this.validUntilMs - nowMs);
  }
}

/**
 * How current a standby is. Each probe notes the newest batch in etcd when
 * it was sent (`mark`); once the standby has applied that batch, it was
 * current as of then. The lag is the time since the latest such moment.
 */
export class ReadLag {
  private currentAsOfMs: number;
  private marks: { atMs: number; first: number }[] = [];

  constructor(nowMs: number) {
    this.currentAsOfMs = nowMs;
  }

  /** At `atMs`, the newest batch in etcd began with change `first` (0: the log is empty); `applied` is this master's last change. */
  mark(atMs: number, first: number, applied: number): void {
    if (first <= applied) this.currentAsOfMs = Math.max(this.currentAsOfMs, atMs);
    else if (this.marks.length < 64) this.marks.push({ atMs, first });
  }

  /** This master has applied every change up to `applied`. */
  applied(applied: number): void {
    while (this.marks.length > 0 && this.marks[0]!.first <= applied) {
      this.currentAsOfMs = Math.max(this.currentAsOfMs, this.marks.shift()!.atMs);
    }
  }

  /** Everything committed by `atMs` has been applied (a full read of the log sent then). */
  currentAsOf(atMs: number): void {
    this.currentAsOfMs = Math.max(this.currentAsOfMs, atMs);
  }

  /** Current up to now (the leader). */
  current(nowMs: number): void {
    this.currentAsOfMs = nowMs;
    this.marks = [];
  }

  lagMs(nowMs: number): number {
    return Math.max(0, nowMs - this.currentAsOfMs);
  }
}
