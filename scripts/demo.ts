// The README's first command ends here: start a local cluster with `gfs dev`,
// store a file, read it back, show where its chunks live, then keep the
// cluster running for you until Ctrl-C (or exit at once with --exit).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const gfs = resolve(import.meta.dir, "../dist/gfs");
const exitAfter = process.argv.includes("--exit");
const dev = Bun.spawn([gfs, "dev", "--port", "0", "--chunk-size", "4MiB"], { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
const stop = async (code: number) => {
  dev.kill("SIGINT");
  await dev.exited;
  process.exit(code);
};
process.on("SIGINT", () => void stop(0));

let out = "";
const reader = dev.stdout.getReader();
while (!/GFS_MASTER=\S+/.test(out)) {
  const { value, done } = await reader.read();
  if (done) {
    console.error("demo: gfs dev exited before the cluster was up");
    process.exit(1);
  }
  out += new TextDecoder().decode(value);
}
const master = /GFS_MASTER=(\S+)/.exec(out)![1]!;
const env = { ...process.env, GFS_MASTER: master };
const run = async (args: string[]): Promise<Uint8Array> => {
  console.log(`$ gfs ${args.join(" ")}`);
  const p = Bun.spawn([gfs, ...args], { env, stdout: "pipe", stderr: "inherit" });
  const bytes = new Uint8Array(await new Response(p.stdout).arrayBuffer());
  if ((await p.exited) !== 0) await stop(1);
  return bytes;
};

const dir = mkdtempSync(join(tmpdir(), "gfs-demo-"));
const local = join(dir, "sample.bin");
const sample = new Uint8Array(24 * 1024 * 1024);
for (let i = 0; i < sample.length; i += 65536) crypto.getRandomValues(sample.subarray(i, i + 65536));
writeFileSync(local, sample);

await run(["mkdir", "-p", "/demo"]);
const t0 = performance.now();
await run(["put", local, "/demo/sample.bin"]);
const putMs = performance.now() - t0;
process.stdout.write(new TextDecoder().decode(await run(["ls", "-l", "/demo"])));
process.stdout.write(new TextDecoder().decode(await run(["stat", "/demo/sample.bin"])).split("\n").slice(0, 9).join("\n") + "\n  ...\n");
const t1 = performance.now();
const back = await run(["cat", "/demo/sample.bin"]);
const catMs = performance.now() - t1;
rmSync(dir, { recursive: true, force: true });
const same = back.byteLength === sample.byteLength && Buffer.compare(back, sample) === 0;
console.log(same
  ? `demo: 24 MiB stored with 3 replicas in ${putMs.toFixed(0)} ms and read back byte-identical in ${catMs.toFixed(0)} ms`
  : "demo: FAILED: the bytes read back differ from the bytes stored");
if (!same || exitAfter) await stop(same ? 0 : 1);
console.log(`\nThe cluster keeps running. In another shell:\n  export GFS_MASTER=${master}\n  ./dist/gfs ls -l /demo\nCtrl-C stops it.`);
