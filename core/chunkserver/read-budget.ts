// Bytes of read replies one connection may have in the making at once (R5):
// a reader that sends many requests and never reads the answers holds at most
// this much memory here, plus what its connection has queued (net/peer.ts
// stops reading from a peer whose replies pile up). Pure.

export class ReadBudget {
  private usedBytes = 0;
  private readonly waiters: { bytes: number; go(): void }[] = [];

  constructor(readonly capacityBytes: number) {}

  /** Resolves once `bytes` fit; callers must `release` the same amount. */
  acquire(bytes: number): Promise<void> {
    const want = Math.min(bytes, this.capacityBytes);
    if (this.waiters.length === 0 && this.usedBytes + want <= this.capacityBytes) {
      this.usedBytes += want;
      return Promise.resolve();
    }
    return new Promise((go) => this.waiters.push({ bytes: want, go }));
  }

  release(bytes: number): void {
    this.usedBytes -= Math.min(bytes, this.capacityBytes);
    while (this.waiters.length > 0 && this.usedBytes + this.waiters[0]!.bytes <= this.capacityBytes) {
      const w = this.waiters.shift()!;
      this.usedBytes += w.bytes;
      w.go();
    }
  }

  get waiting(): number {
    return this.waiters.length;
  }
}
