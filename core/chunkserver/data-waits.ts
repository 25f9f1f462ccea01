// Mutations whose pushed data is still on its way. A client sends its append
// request while the push is still travelling down the chain (D1: control and
// data go separately), so a replica may be told where to write bytes it does
// not have yet: the mutation waits here, in its place in the chunk's order,
// until the push completes, fails, or never starts.
import { ErrorCode, GfsError } from "../../net/errors";
import type { Handle } from "../../net/messages";
import { handleName } from "../handles";
import type { PushBuffer, Pushed } from "./push-buffer";

interface Wait {
  /** The size the mutation expects, or null for data nobody will use (dropped on arrival). */
  size: number | null;
  handle: Handle;
  version: number;
  resolve(data: Pushed): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/** Pushes remembered as failed, so that a mutation arriving after the failure fails at once. */
const FAILED_MEMORY = 1024;

export class DataWaits {
  private readonly waits = new Map<string, Wait>();
  private readonly failedPushes = new Map<string, Error>();

  /**
   * @param announceMs how long a mutation waits for a push that has not begun
   *   here while no pushed data arrives here at all (on a busy server pushes
   *   queue up behind each other, and a slow one is not a lost one); a push
   *   under way is bounded by its own stall timeout instead.
   * @param lastPushDataMs when pushed bytes last arrived here (any push).
   * @param maxAnnounceMs how long a mutation waits for a push that has not
   *   begun here at most, however busy the server is: a push lost on the way
   *   (a connection closed by damage, a hop restarted) never begins, and
   *   other clients' pushes keep arriving.
   */
  constructor(
    private readonly buffer: PushBuffer,
    private readonly announceMs: number,
    private readonly lastPushDataMs: () => number = () => 0,
    private readonly maxAnnounceMs: number = announceMs * 3,
  ) {}

  get size(): number {
    return this.waits.size;
  }

  /** The complete data of `dataId`, taken from the push buffer: at once if it is here, else once its push completes. */
  get(dataId: string, size: number, handle: Handle, version: number): Promise<Pushed> {
    if (this.buffer.isComplete(dataId)) {
      try {
        return Promise.resolve(this.take(dataId, size));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    const failure = this.failedPushes.get(dataId);
    if (failure) return Promise.reject(failure);
    return new Promise<Pushed>((resolve, reject) => this.wait(dataId, { size, handle, version, resolve, reject }));
  }

  /**
   * Data of a mutation that will not happen (the chunk was full): dropped now,
   * or when its push completes here; a push not begun yet ages out of the buffer.
   */
  discard(dataId: string): void {
    if (!this.buffer.has(dataId) || this.buffer.isComplete(dataId)) {
      this.buffer.drop(dataId);
      return;
    }
    this.wait(dataId, { size: null, handle: 0, version: 0, resolve: () => {}, reject: () => {} });
  }

  private wait(dataId: string, w: Omit<Wait, "timer">): void {
    if (this.waits.has(dataId)) this.failed(dataId, new GfsError(ErrorCode.NO_DATA, `data ${dataId} is wanted by a newer mutation`));
    const since = Date.now();
    const check = () => {
      // Under way: its push times out on its own.
      if (this.buffer.has(dataId)) {
        wait.timer = setTimeout(check, this.announceMs);
        return;
      }
      const now = Date.now();
      const quietMs = now - this.lastPushDataMs();
      const waitedMs = now - since;
      if (quietMs >= this.announceMs) {
        this.failed(dataId, new GfsError(ErrorCode.NO_DATA, `data ${dataId} did not arrive: no pushed data came here for ${this.announceMs} ms`));
      } else if (waitedMs >= this.maxAnnounceMs) {
        this.failed(dataId, new GfsError(ErrorCode.NO_DATA, `data ${dataId} did not arrive: its push did not begin here within ${this.maxAnnounceMs} ms`));
      } else {
        // Pushes are still arriving here: this one may be queued behind them.
        wait.timer = setTimeout(check, Math.min(this.announceMs - quietMs, this.maxAnnounceMs - waitedMs));
      }
    };
    const wait: Wait = { ...w, timer: setTimeout(check, this.announceMs) };
    this.waits.set(dataId, wait);
  }

  /** The push of `dataId` completed here: hand the data to the mutation waiting for it, if any. */
  arrived(dataId: string): void {
    const w = this.waits.get(dataId);
    if (!w) return;
    this.forget(dataId, w);
    if (w.size === null) {
      this.buffer.drop(dataId);
      return;
    }
    try {
      w.resolve(this.take(dataId, w.size));
    } catch (err) {
      w.reject(err as Error);
    }
  }

  /** The push of `dataId` failed here: its mutation fails, now or when it comes. */
  pushFailed(dataId: string, err: Error): void {
    this.failedPushes.set(dataId, err);
    if (this.failedPushes.size > FAILED_MEMORY) this.failedPushes.delete(this.failedPushes.keys().next().value!);
    this.failed(dataId, err);
  }

  private failed(dataId: string, err: Error): void {
    const w = this.waits.get(dataId);
    if (!w) return;
    this.forget(dataId, w);
    w.reject(err);
  }

  /** A new version of `handle` ends the mutations of older ones still waiting for data. */
  versionChanged(handle: Handle, version: number): void {
    for (const [dataId, w] of this.waits) {
      if (w.size !== null && w.handle === handle && w.version < version) {
        this.failed(dataId, new GfsError(ErrorCode.STALE, `chunk ${handleName(handle)} moved to version ${version} while waiting for data ${dataId}`));
      }
    }
  }

  closeAll(): void {
    for (const dataId of [...this.waits.keys()]) this.failed(dataId, new GfsError(ErrorCode.UNAVAILABLE, "chunk server is stopping"));
  }

  private forget(dataId: string, w: Wait): void {
    clearTimeout(w.timer);
    this.waits.delete(dataId);
  }

  private take(dataId: string, size: number): Pushed {
    const pushed = this.buffer.take(dataId);
    if (pushed.data.byteLength !== size) {
      throw new GfsError(ErrorCode.INVALID_ARGUMENT, `data ${dataId} has ${pushed.data.byteLength} bytes, the mutation says ${size}`);
    }
    return pushed;
  }
}
