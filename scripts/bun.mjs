#!/usr/bin/env node
// Runs the Bun binary that npm installed from the registry, without relying on
// the `bun` package's postinstall script (npm may be configured to skip it).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const arch = process.arch === "arm64" ? "aarch64" : process.arch;
const os = process.platform === "win32" ? "windows" : process.platform;
const exe = os === "windows" ? "bun.exe" : "bun";
const candidates = [`@oven/bun-${os}-${arch}`, `@oven/bun-${os}-${arch}-musl`, `@oven/bun-${os}-${arch}-baseline`];

function findBun() {
  for (const name of candidates) {
    try {
      const dir = dirname(require.resolve(`${name}/package.json`));
      const bin = join(dir, "bin", exe);
      if (existsSync(bin)) return bin;
    } catch {}
  }
  return null;
}

const bun = findBun();
if (!bun) {
  console.error(`gfs: no Bun binary for ${os}-${arch} in node_modules; run 'npm ci' first`);
  process.exit(1);
}
const result = spawnSync(bun, process.argv.slice(2), { stdio: "inherit" });
if (result.error) {
  console.error(`gfs: could not start bun: ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? (result.signal ? 128 + 1 : 1));
