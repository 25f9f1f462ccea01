// Inline appends (net/PROTOCOL.md) bring their bytes in the request, past the
// push buffer's reservations: what one connection may hold that way while its
// requests are in progress is bounded here instead (W4, C4).
import { ErrorCode, GfsError } from "../../net/errors";

export class InlineHeld {
  private readonly held = new Map<object, number>();

  constructor(readonly maxBytesPerPeer: number) {}

  /** Runs `fn` with `bytes` counted against `peer`; refused (retryable) when that passes the bound. */
  async hold<T>(peer: object, bytes: number, fn: () => Promise<T>): Promise<T> {
    const now = this.held.get(peer) ?? 0;
    if (now > 0 && now + bytes > this.maxBytesPerPeer) {
      throw new GfsError(ErrorCode.UNAVAILABLE, `${now} bytes of inline appends from this connection are still in progress: retry`);
    }
    this.held.set(peer, now + bytes);
    try {
      return await fn();
    } finally {
      const left = this.held.get(peer)! - bytes;
      if (left === 0) this.held.delete(peer);
      else this.held.set(peer, left);
    }
  }

  /** Bytes held for `peer` now. */
  bytesOf(peer: object): number {
    return this.held.get(peer) ?? 0;
  }
}
