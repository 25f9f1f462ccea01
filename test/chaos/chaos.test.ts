// The seeded fault run in CI (R6): a fixed seed, so a regression shows the same
// way every time, and a new random seed each run, to find what the fixed one
// does not; and a fixed seed in HA mode (three masters on etcd, the leader
// killed and paused). A failure prints the seed and the command that replays it.
import { expect, test } from "bun:test";
import { stopAll } from "../helpers/cluster";
import { formatReport, runChaos } from "./run";

const seconds = Number(process.env.GFS_CHAOS_SECONDS ?? 60);

const runs = [
  ["a fixed seed", 20261122, false],
  ["a random seed", Math.floor(Math.random() * 2 ** 31), false],
  // HA: three masters on etcd; the leader is killed and paused past its lease.
  ["a fixed seed, HA", 20261123, true],
] as const;

for (const [name, seed, ha] of runs) {
  test(`chaos run with ${name} (${seed}, ${seconds} s): no violations`, async () => {
    try {
      const report = await runChaos({ seed, durationMs: seconds * 1000, ha, log: process.env.GFS_TEST_VERBOSE ? (l) => console.log(l) : undefined });
      console.log(formatReport(report));
      if (report.violations.length) console.log(`replay: npm run chaos -- --seed ${seed} --minutes ${seconds / 60}${ha ? " --ha" : ""}`);
      expect(report.violations).toEqual([]);
      expect(Object.values(report.faults).reduce((a, b) => a + b, 0)).toBeGreaterThan(seconds / 10);
    } finally {
      await stopAll();
    }
  }, (seconds + 240) * 1000);
}
