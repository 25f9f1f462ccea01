// Length-prefixed frames: a 4-byte big-endian body length, then the body.
// The decoder accepts bytes split and merged arbitrarily and never holds more
// than one frame (bounded by maxFrameBytes) plus the bytes of the next prefix.
// A frame's buffer grows with the bytes that actually arrive, so announcing a
// large frame and sending little costs little (R5).

export const FRAME_PREFIX_BYTES = 4;
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** The first buffer of a frame in progress; it doubles as bytes arrive. */
const FIRST_BUFFER_BYTES = 1280 * 1024; // a 1 MiB read piece or push piece and its head, without growing

export class FrameTooLargeError extends Error {
  constructor(readonly frameBytes: number, readonly maxFrameBytes: number) {
    super(`frame of ${frameBytes} bytes exceeds the limit of ${maxFrameBytes}`);
  }
}

/** Writes the 4-byte prefix for a body of `bodyBytes` into a new array. */
export function framePrefix(bodyBytes: number): Uint8Array {
  const prefix = new Uint8Array(FRAME_PREFIX_BYTES);
  new DataView(prefix.buffer).setUint32(0, bodyBytes, false);
  return prefix;
}

/** Returns prefix and body in one array (for small bodies, one write). */
export function encodeFrame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_PREFIX_BYTES + body.byteLength);
  new DataView(out.buffer).setUint32(0, body.byteLength, false);
  out.set(body, FRAME_PREFIX_BYTES);
  return out;
}

/**
 * Incremental decoder. `push` returns the complete frame bodies found so far.
 * A body is a fresh array or a view into the pushed bytes that the caller
 * must not keep past the callback if it wants to reuse the input buffer
 * (Bun hands each `data` event its own buffer, so views are safe there).
 */
export class FrameDecoder {
  private partial: Uint8Array | null = null; // body being assembled (may be shorter than the frame so far)
  private partialBytes = 0; // the frame's announced length
  private partialFilled = 0;
  private prefix = new Uint8Array(FRAME_PREFIX_BYTES);
  private prefixFilled = 0;

  /** Body bytes the head check still waits for before the frame in progress is judged (0: judged). */
  private headNeed = 0;

  /**
   * Frames above this close the connection; a server raises it once its peer has authenticated.
   * `checkHead` judges a frame's start while the rest is still to come (see envelope.ts): it returns
   * how many body bytes it needs (0 once satisfied) or throws.
   */
  constructor(
    public maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
    private readonly checkHead?: (start: Uint8Array, frameLength: number) => number,
  ) {}

  /** Bytes held for the frame in progress: bounded by maxFrameBytes + 4. */
  get bufferedBytes(): number {
    return this.prefixFilled + this.partialFilled;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    let pos = 0;
    while (pos < chunk.byteLength) {
      if (this.partial === null) {
        // Fast path: whole prefix and whole body inside this chunk.
        if (this.prefixFilled === 0 && chunk.byteLength - pos >= FRAME_PREFIX_BYTES) {
          const len = readU32(chunk, pos);
          this.check(len);
          if (chunk.byteLength - pos - FRAME_PREFIX_BYTES >= len) {
            frames.push(chunk.subarray(pos + FRAME_PREFIX_BYTES, pos + FRAME_PREFIX_BYTES + len));
            pos += FRAME_PREFIX_BYTES + len;
            continue;
          }
          this.startFrame(len);
          pos += FRAME_PREFIX_BYTES;
        } else {
          const take = Math.min(FRAME_PREFIX_BYTES - this.prefixFilled, chunk.byteLength - pos);
          this.prefix.set(chunk.subarray(pos, pos + take), this.prefixFilled);
          this.prefixFilled += take;
          pos += take;
          if (this.prefixFilled < FRAME_PREFIX_BYTES) break;
          this.prefixFilled = 0;
          const len = readU32(this.prefix, 0);
          this.check(len);
          this.startFrame(len);
        }
      }
      const need = this.partialBytes - this.partialFilled;
      const take = Math.min(need, chunk.byteLength - pos);
      if (this.partialFilled + take > this.partial!.byteLength) this.grow(this.partialFilled + take);
      this.partial!.set(chunk.subarray(pos, pos + take), this.partialFilled);
      this.partialFilled += take;
      pos += take;
      while (this.headNeed > 0 && this.partialFilled >= this.headNeed && this.partialFilled < this.partialBytes) {
        this.headNeed = this.checkHead!(this.partial!.subarray(0, this.partialFilled), this.partialBytes);
      }
      if (this.partialFilled === this.partialBytes) {
        frames.push(this.partial!);
        this.partial = null;
        this.partialFilled = 0;
      }
    }
    return frames;
  }

  private startFrame(len: number): void {
    this.partialBytes = len;
    this.partialFilled = 0;
    // A frame that arrives in pieces has its head checked as soon as the head is in.
    this.headNeed = this.checkHead ? 1 : 0;
    this.partial = Buffer.allocUnsafeSlow(Math.min(len, FIRST_BUFFER_BYTES)); // every byte is written before use
  }

  private grow(atLeast: number): void {
    let n = this.partial!.byteLength;
    while (n < atLeast) n *= 2;
    const bigger = Buffer.allocUnsafeSlow(Math.min(n, this.partialBytes));
    bigger.set(this.partial!.subarray(0, this.partialFilled));
    this.partial = bigger;
  }

  private check(len: number): void {
    if (len > this.maxFrameBytes) throw new FrameTooLargeError(len, this.maxFrameBytes);
  }
}

/** The big-endian u32 at `at` (byte by byte: cheaper per message than a DataView). */
export function readU32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) >>> 0) + (bytes[at + 1]! << 16) + (bytes[at + 2]! << 8) + bytes[at + 3]!;
}

/** Writes `v` as a big-endian u32 at `at`. */
export function writeU32(bytes: Uint8Array, at: number, v: number): void {
  bytes[at] = v >>> 24;
  bytes[at + 1] = v >>> 16;
  bytes[at + 2] = v >>> 8;
  bytes[at + 3] = v;
}
