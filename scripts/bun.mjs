#!/usr/bin/env node
// Runs the Bun binary that npm installed from the registry, without relying on
// the `bun` package's postinstall script (npm may be configured to skip it).
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const arch = process.arch === "arm64" ? "aarch64" : process.arch;
const os = process.platform === "win32" ? "windows" : process.platform;
const exe = os === "windows" ? "bun.exe" : "bun";
const candidates = [`@oven/bun-${os}-${arch}`, `@oven/bun-${os}-${arch}-musl`, `@oven/bun-${os}-${arch}-baseline`];

// Without install scripts the binary sits in the platform package; when the
// `bun` package's postinstall did run, it moved the binary into bun/bin/.
function findBun() {
  for (const name of candidates) {
    try {
      const bin = join(dirname(require.resolve(`${name}/package.json`)), "bin", exe);
      if (existsSync(bin)) return bin;
    } catch {}
  }
  try {
    const moved = join(dirname(require.resolve("bun/package.json")), "bin", "bun.exe");
    if (existsSync(moved) && statSync(moved).size > 1_000_000) return moved;
  } catch {}
  return null;
}

const bun = findBun();
if (!bun) {
  console.error(`gfs: no Bun binary for ${os}-${arch} in node_modules; run 'npm install' first`);
  process.exit(1);
}
const result = spawnSync(bun, process.argv.slice(2), { stdio: "inherit" });
if (result.error) {
  console.error(`gfs: could not start bun: ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? (result.signal ? 128 + 1 : 1));
