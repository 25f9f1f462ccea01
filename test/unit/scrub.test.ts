import { expect, test } from "bun:test";
import { scrubPauseMs } from "../../core/chunkserver/server";

test("the scrubber's pace: never ahead of its rate, never waiting when behind, unpaced at 0", () => {
  const MiB = 1024 * 1024;
  expect(scrubPauseMs(32 * MiB, 0, 32 * MiB)).toBe(1000);
  expect(scrubPauseMs(32 * MiB, 400, 32 * MiB)).toBe(600);
  expect(scrubPauseMs(32 * MiB, 1500, 32 * MiB)).toBe(0);
  expect(scrubPauseMs(1e12, 0, 0)).toBe(0);
});
