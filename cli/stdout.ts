// Bulk output to standard output (gfs cat): written straight to file
// descriptor 1 in batches of up to 1 MiB, one batch being written while the
// next fills, so a file, a pipe or /dev/null all run at their own speed and
// memory stays bounded. Files and pipes are written from the thread pool; a
// character device (/dev/null, a terminal) takes a write at once and is
// written directly. A reader that went away (EPIPE:
// `gfs cat f | head`) ends the command quietly with status 141, as coreutils
// do; any other write error (a full disk, /dev/full) is one `gfs:` line and
// status 1. A non-blocking pipe (a parent that reads with poll) is written
// through the runtime's stream when it is full. A pipe is enlarged to 1 MiB
// where the system allows (pipe-size.ts).
import { fstatSync, write, writeSync } from "node:fs";
import { ExitError } from "./errors";
import { enlargePipe } from "./pipe-size";

const BATCH_BYTES = 1024 * 1024;

/** The reader of standard output is gone: stop without a word (status 141, like SIGPIPE). */
export class ClosedPipe extends Error {
  constructor() {
    super("standard output was closed");
  }
}

export class StdoutWriter {
  private parts: Uint8Array[] = [];
  private partsBytes = 0;
  private writing: Promise<void> = Promise.resolve();
  private failure: Error | null = null;

  /** Whether the output is a character device rather than a file or a pipe. */
  private readonly device: boolean;

  constructor(private readonly fd = 1) {
    let device = false;
    try {
      device = fstatSync(fd).isCharacterDevice();
    } catch {}
    this.device = device;
    // A pipe: 1 MiB per hand-over to the reader instead of 64 KiB (Linux; best effort).
    if (!device) enlargePipe(fd);
  }

  /** Queues `data`; resolves once the writer can take more (at most two batches held). */
  async write(data: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    if (data.byteLength >= BATCH_BYTES && this.partsBytes === 0) return this.next(data);
    this.parts.push(data);
    this.partsBytes += data.byteLength;
    if (this.partsBytes >= BATCH_BYTES) await this.next(this.take());
  }

  /** Writes everything queued; throws the first write error. */
  async close(): Promise<void> {
    if (this.partsBytes > 0) await this.next(this.take());
    await this.writing;
    if (this.failure) throw this.failure;
  }

  private take(): Uint8Array {
    const out = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.partsBytes);
    this.parts = [];
    this.partsBytes = 0;
    return out;
  }

  /** Starts writing `batch` once the batch before it is written. */
  private async next(batch: Uint8Array): Promise<void> {
    await this.writing;
    if (this.failure) throw this.failure;
    this.writing = this.writeAll(batch).catch((err: NodeJS.ErrnoException) => {
      this.failure ??= err.code === "EPIPE" ? new ClosedPipe() : new ExitError(1, `writing standard output: ${describe(err)}`);
    });
  }

  private async writeAll(data: Uint8Array): Promise<void> {
    if (this.device) {
      // A character device (/dev/null, a terminal) takes a write at once: no thread-pool round trip.
      let at = 0;
      while (at < data.byteLength) at += writeSync(this.fd, data, at, data.byteLength - at);
      return;
    }
    let off = 0;
    while (off < data.byteLength) {
      try {
        off += await new Promise<number>((resolve, reject) => write(this.fd, data, off, data.byteLength - off, null, (err, n) => (err ? reject(err) : resolve(n))));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
        // A non-blocking pipe that is full: the runtime's stream waits until it can be written.
        const rest = data.subarray(off);
        await new Promise<void>((resolve, reject) => process.stdout.write(rest, (e) => (e ? reject(e) : resolve())));
        return;
      }
    }
  }
}

function describe(err: NodeJS.ErrnoException): string {
  if (err.code === "ENOSPC") return "no space left on device";
  if (err.code === "EDQUOT") return "disk quota exceeded";
  if (err.code === "EIO") return "input/output error";
  return err.message.replace(/^[A-Z]+: /, "").replace(/, write$/, "");
}
