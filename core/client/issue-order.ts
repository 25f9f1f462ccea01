// Requests that must leave in the order they were made (the writes of one
// put, the append batches of one file), while the work before each request
// (pushing its data) runs concurrently. Each request takes a turn when it is
// made; it sends once every earlier turn is over.

export class IssueOrder {
  private last: Promise<void> = Promise.resolve();

  take(): Turn {
    const prev = this.last;
    let done!: () => void;
    this.last = new Promise<void>((r) => (done = r));
    return new Turn(prev, done);
  }
}

export class Turn {
  private open = true;

  constructor(private readonly prev: Promise<void>, private readonly done: () => void) {}

  /** Resolves once every earlier turn is over (at once if this one is). */
  wait(): Promise<void> {
    return this.open ? this.prev : Promise.resolve();
  }

  /** The request has gone: call right after sending it, having awaited `wait()`. */
  sent(): void {
    if (!this.open) return;
    this.open = false;
    this.done();
  }

  /** This turn will not send in order (it failed and retries later, or gave up): the next goes once earlier ones have. */
  async pass(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    await this.prev;
    this.done();
  }
}
