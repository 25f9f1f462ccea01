// Background work on a chunk server (scrubbing, re-replication and rebalancing
// copies) is paced so it never starves clients. Pure: the caller passes the
// time and whether clients moved data here since its last piece.

/** How long to wait so that `bytes` done since `elapsedMs` ago stays within `bytesPerSec` on average (0: unpaced). */
export function averagePauseMs(bytes: number, elapsedMs: number, bytesPerSec: number): number {
  return bytesPerSec > 0 ? Math.max(0, (bytes / bytesPerSec) * 1000 - elapsedMs) : 0;
}

/** While clients move data on a server, a copy to it goes at this fraction of its rate. */
export const COPY_YIELD_FRACTION = 0.25;

/**
 * The pause after a piece of a paced copy. While clients are busy here the
 * copy trickles at COPY_YIELD_FRACTION of its rate; otherwise it keeps its
 * average since the start, so time given to clients is made up afterwards and
 * the copy still ends about when its budget says. An unpaced copy (rate 0)
 * does not wait.
 */
export function copyPauseMs(bytes: number, elapsedMs: number, bytesPerSec: number, pieceBytes: number, clientsBusy: boolean): number {
  const average = averagePauseMs(bytes, elapsedMs, bytesPerSec);
  if (!clientsBusy || bytesPerSec <= 0) return average;
  return Math.max(average, (pieceBytes / (bytesPerSec * COPY_YIELD_FRACTION)) * 1000);
}
