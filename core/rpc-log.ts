// The RPC log (O2, seeds [0132]-[0134]): every request a daemon serves and
// its reply, exactly as they crossed the wire (the envelopes' msgpack; file
// data travels as a frame's tail and is never in it), appended to
// DIR/rpc.log in the background. Recording a message is a copy of its bytes
// into a buffer, about a microsecond on the request path; turning them into
// text is left to whoever reads the log (`gfs rpc-log`, core/rpc-log-text.ts).
// Bounded: past `maxBytes` the file is renamed to rpc.log.1 (replacing the
// one before) and a new one begun; a disk that cannot keep up loses the
// oldest records, never memory.
//
// The file is RPC_LOG_MAGIC, then records:
//   u32 LE  length of the rest of the record
//   u8      kind: 1 a request arrived, 2 its reply was sent
//   f64 LE  wall-clock time, ms since the epoch
//   f32 LE  for a reply, how long serving the request took in ms (0 for a request)
//   u8      length of the peer's name, then the name (HOST:PORT, latin1)
//   ...     the envelope's msgpack: { i, t, b } for a request, { i, r } or { i, e } for a reply
import { closeSync, openSync, readSync } from "node:fs";
import { appendFile, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import type { RpcRecorder } from "../net/peer";
import { BODY_HEADER_BYTES } from "../net/envelope";
import { FRAME_PREFIX_BYTES } from "../net/frame";

export const RPC_LOG_MAGIC = "GFSRPC1\n";
export const RECORD_REQUEST = 1;
export const RECORD_REPLY = 2;
/** Bytes of a record before the peer's name: length, kind, time, duration, name length. */
export const RECORD_FIXED_BYTES = 4 + 1 + 8 + 4 + 1;

const FLUSH_MS = 500;
/** Records are gathered in buffers of this size (a larger record gets one of its own). */
const CHUNK_BYTES = 256 * 1024;
/** Records waiting for the disk at most; past it the oldest buffers are dropped. */
const MAX_PENDING_BYTES = 32 * 1024 * 1024;

export class RpcLog implements RpcRecorder {
  /** Filled buffers waiting for the next flush, and the one being filled. */
  private full: Uint8Array[] = [];
  private pendingBytes = 0;
  private buf = new Uint8Array(CHUNK_BYTES);
  private view = new DataView(this.buf.buffer);
  private pos = 0;
  private bytes = -1; // the file's size, unknown until the first flush
  private flushing: Promise<void> | null = null;
  private readonly timer: ReturnType<typeof setInterval>;
  readonly path: string;

  constructor(dir: string, private readonly maxBytes = 64 * 1024 * 1024) {
    this.path = join(dir, "rpc.log");
    this.timer = setInterval(() => void this.flush(), FLUSH_MS);
    this.timer.unref?.();
  }

  request(peer: { remote: string }, head: Uint8Array): void {
    this.add(RECORD_REQUEST, 0, peer.remote, head, 0, head.byteLength);
  }

  reply(peer: { remote: string }, ms: number, frame: Uint8Array): void {
    this.add(RECORD_REPLY, ms, peer.remote, frame, FRAME_PREFIX_BYTES + BODY_HEADER_BYTES, frame.byteLength);
  }

  private add(kind: number, ms: number, peer: string, src: Uint8Array, start: number, end: number): void {
    const nameBytes = Math.min(peer.length, 255);
    const size = RECORD_FIXED_BYTES + nameBytes + (end - start);
    if (this.pos + size > this.buf.byteLength) this.nextBuffer(size);
    const b = this.buf;
    const v = this.view;
    let p = this.pos;
    v.setUint32(p, size - 4, true);
    b[p + 4] = kind;
    v.setFloat64(p + 5, Date.now(), true);
    v.setFloat32(p + 13, ms, true);
    b[p + 17] = nameBytes;
    p += RECORD_FIXED_BYTES;
    for (let i = 0; i < nameBytes; i++) b[p + i] = peer.charCodeAt(i);
    p += nameBytes;
    b.set(start === 0 && end === src.byteLength ? src : src.subarray(start, end), p);
    this.pos = p + (end - start);
  }

  /** Ends the buffer being filled and begins one that holds at least `size` bytes. */
  private nextBuffer(size: number): void {
    if (this.pos > 0) {
      this.full.push(this.buf.subarray(0, this.pos));
      this.pendingBytes += this.pos;
      while (this.pendingBytes > MAX_PENDING_BYTES && this.full.length > 0) this.pendingBytes -= this.full.shift()!.byteLength;
    }
    this.buf = new Uint8Array(Math.max(CHUNK_BYTES, size));
    this.view = new DataView(this.buf.buffer);
    this.pos = 0;
  }

  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.pos > 0) this.nextBuffer(0);
    if (this.full.length === 0) return Promise.resolve();
    const parts = this.full;
    this.full = [];
    this.pendingBytes = 0;
    this.flushing = (async () => {
      try {
        if (this.bytes < 0) this.bytes = await this.sizeOfOurs();
        const total = parts.reduce((n, p) => n + p.byteLength, 0);
        if (this.bytes > 0 && this.bytes + total > this.maxBytes) await this.rotate();
        if (this.bytes === 0) parts.unshift(new TextEncoder().encode(RPC_LOG_MAGIC));
        const data = Buffer.concat(parts);
        await appendFile(this.path, data);
        this.bytes += data.byteLength;
      } catch {
        // The RPC log is for people; a failed write never stops serving.
      } finally {
        this.flushing = null;
      }
    })();
    return this.flushing;
  }

  /** The size of the log file there, after moving aside one that is not in this format (a log of an older version). */
  private async sizeOfOurs(): Promise<number> {
    const size = await stat(this.path).then((s) => s.size, () => 0);
    if (size === 0) return 0;
    const head = Buffer.alloc(RPC_LOG_MAGIC.length);
    const fd = openSync(this.path, "r");
    try {
      readSync(fd, head, 0, head.byteLength, 0);
    } finally {
      closeSync(fd);
    }
    if (head.toString("latin1") === RPC_LOG_MAGIC) return size;
    await this.rotate();
    return 0;
  }

  private async rotate(): Promise<void> {
    await rename(this.path, this.path + ".1").catch(() => {});
    this.bytes = 0;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flushing;
    await this.flush();
  }
}
