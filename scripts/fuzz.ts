// npm run fuzz [-- --cases N] [--seed S]: the property-based fuzz suites
// (test/fuzz/) at N cases in all (default 1,000,000; CI runs about 59,000).
import { parseArgs } from "node:util";

const BASE_CASES = 59_000; // the sum of the base counts in test/fuzz/
const { values } = parseArgs({ options: { cases: { type: "string", default: "1000000" }, seed: { type: "string" } } });
const cases = Number(values.cases);
if (!Number.isSafeInteger(cases) || cases <= 0) {
  console.error(`fuzz: --cases must be a whole number, got '${values.cases}'`);
  process.exit(2);
}
const env: Record<string, string> = { ...process.env, GFS_FUZZ_SCALE: String(cases / BASE_CASES) } as Record<string, string>;
if (values.seed !== undefined) env.GFS_FUZZ_SEED = values.seed;
console.error(`fuzz: about ${cases.toLocaleString("en")} cases${values.seed !== undefined ? `, seed ${values.seed}` : ""}`);
const proc = Bun.spawn([process.execPath, "test", "--timeout", "0", "test/fuzz"], { env, stdout: "inherit", stderr: "inherit" });
process.exit(await proc.exited);
