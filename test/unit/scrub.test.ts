import { expect, test } from "bun:test";
import { COPY_YIELD_FRACTION, averagePauseMs, copyPauseMs } from "../../core/chunkserver/pacing";

const MiB = 1024 * 1024;

test("the scrubber's pace: never ahead of its rate, never waiting when behind, unpaced at 0", () => {
  expect(averagePauseMs(32 * MiB, 0, 32 * MiB)).toBe(1000);
  expect(averagePauseMs(32 * MiB, 400, 32 * MiB)).toBe(600);
  expect(averagePauseMs(32 * MiB, 1500, 32 * MiB)).toBe(0);
  expect(averagePauseMs(1e12, 0, 0)).toBe(0);
});

test("a copy yields to clients: it trickles while they are busy and makes the time up afterwards", () => {
  const rate = 64 * MiB;
  // On schedule and no client: the average rate.
  expect(copyPauseMs(64 * MiB, 500, rate, MiB, false)).toBe(500);
  // A client is busy: at most a quarter of the rate, even when behind schedule.
  const trickle = (MiB / (rate * COPY_YIELD_FRACTION)) * 1000;
  expect(copyPauseMs(8 * MiB, 1000, rate, MiB, true)).toBe(trickle);
  expect(copyPauseMs(64 * MiB, 500, rate, MiB, true)).toBe(500);
  // Behind schedule after yielding, and the client gone: no wait until it is caught up.
  expect(copyPauseMs(8 * MiB, 1000, rate, MiB, false)).toBe(0);
  // Simulated: 2 s of clients in a 64 MiB copy at 64 MiB/s still ends by about 1 s plus the trickle's share.
  let t = 0;
  let done = 0;
  while (done < 64 * MiB) {
    t += 2; // the piece itself
    done += MiB;
    t += copyPauseMs(done, t, rate, MiB, t < 2000);
  }
  expect(t).toBeGreaterThanOrEqual(2000);
  expect(t).toBeLessThan(2000 + 2 * 64);
  // Unpaced copies do not wait, clients or not.
  expect(copyPauseMs(64 * MiB, 0, 0, MiB, true)).toBe(0);
});
