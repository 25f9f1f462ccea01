// npm run chaos -- [--seed S] [--minutes M] [--ha]: the seeded fault run (test/chaos/run.ts)
// against dist/gfs. Prints what was injected and verified; on a violation,
// the seed and the command that replays it, and exits 1.
import { parseArgs } from "node:util";
import { formatReport, runChaos } from "../test/chaos/run";

const { values } = parseArgs({ options: { seed: { type: "string" }, minutes: { type: "string", default: "3" }, quiet: { type: "boolean" }, ha: { type: "boolean" } } });
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
const minutes = Number(values.minutes);
if (!Number.isSafeInteger(seed) || seed < 0 || !(minutes > 0)) {
  console.error("chaos: --seed must be a whole number and --minutes a positive number");
  process.exit(2);
}
const t0 = Date.now();
const log = values.quiet ? undefined : (line: string) => console.error(`${((Date.now() - t0) / 1000).toFixed(1).padStart(7)}s ${line}`);
console.error(`chaos: seed ${seed}, ${minutes} minute(s)${values.ha ? ", HA: three masters on etcd" : ""}`);
const report = await runChaos({ seed, durationMs: minutes * 60_000, log, ha: values.ha === true });
console.log(formatReport(report));
if (report.violations.length > 0) {
  console.log(`\nreplay: npm run chaos -- --seed ${seed} --minutes ${minutes}${values.ha ? " --ha" : ""}`);
  process.exit(1);
}
