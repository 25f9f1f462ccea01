// What the status page shows over time: client bytes read and written on
// the chunk servers (from their heartbeats), requests the master served, and
// bytes re-replicated, as rates per sample, one sample every SAMPLE_MS for
// the last hour. Pure: the master feeds it counters and the time.

export const SAMPLE_MS = 10_000;
const KEPT = 360; // one hour

export interface Sample {
  timeMs: number;
  readBytesPerSec: number;
  writtenBytesPerSec: number;
  requestsPerSec: number;
  clonedBytesPerSec: number;
}

export interface Totals {
  readBytes: number;
  writtenBytes: number;
  requests: number;
  clonedBytes: number;
}

export class StatusHistory {
  private readonly samples: Sample[] = [];
  private last: { timeMs: number; totals: Totals } | null = null;
  /** Byte counters per chunk server as last reported; a counter that went back (a restart) starts again from 0. */
  private readonly perServer = new Map<string, { read: number; written: number }>();
  private readonly io = { read: 0, written: 0 };

  /** A chunk server's heartbeat carried its byte counters. */
  serverCounters(id: string, read: number, written: number): void {
    const before = this.perServer.get(id) ?? { read: 0, written: 0 };
    this.io.read += read >= before.read ? read - before.read : read;
    this.io.written += written >= before.written ? written - before.written : written;
    this.perServer.set(id, { read, written });
  }

  /** Client bytes read and written on every chunk server since the master started. */
  get ioTotals(): { read: number; written: number } {
    return { ...this.io };
  }

  /** Takes a sample of the rates since the last one. */
  sample(nowMs: number, totals: Totals): void {
    if (this.last) {
      const secs = Math.max(0.001, (nowMs - this.last.timeMs) / 1000);
      const rate = (k: keyof Totals) => Math.max(0, totals[k] - this.last!.totals[k]) / secs;
      this.samples.push({ timeMs: nowMs, readBytesPerSec: rate("readBytes"), writtenBytesPerSec: rate("writtenBytes"), requestsPerSec: rate("requests"), clonedBytesPerSec: rate("clonedBytes") });
      if (this.samples.length > KEPT) this.samples.shift();
    }
    this.last = { timeMs: nowMs, totals };
  }

  get history(): readonly Sample[] {
    return this.samples;
  }
}
