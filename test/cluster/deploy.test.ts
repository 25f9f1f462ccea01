// deploy/: the systemd units pass systemd-analyze verify with no warning,
// every setting they use is in gfs.env with a comment, and every flag they
// pass is one the real binary takes.
import { expect, test } from "bun:test";
import { cpSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { GFS, runGfs, tempDir } from "../helpers/cluster";

const DEPLOY = join(import.meta.dir, "..", "..", "deploy");
const UNITS = ["gfs-master.service", "gfs-chunkserver.service"];

test("systemd-analyze verify accepts both units without a warning", () => {
  // A root with systemd's own units and the binary where the units expect it.
  const root = tempDir("gfs-systemd-");
  try {
    mkdirSync(join(root, "usr/local/bin"), { recursive: true });
    mkdirSync(join(root, "etc/systemd/system"), { recursive: true });
    mkdirSync(join(root, "usr/lib/systemd"), { recursive: true });
    cpSync("/usr/lib/systemd/system", join(root, "usr/lib/systemd/system"), { recursive: true });
    cpSync(GFS, join(root, "usr/local/bin/gfs"));
    for (const u of UNITS) cpSync(join(DEPLOY, u), join(root, "etc/systemd/system", u));
    const r = Bun.spawnSync(["systemd-analyze", "verify", `--root=${root}`, ...UNITS.map((u) => join(root, "etc/systemd/system", u))]);
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("every setting the units use is documented in gfs.env, and every flag they pass is the binary's", async () => {
  const env = readFileSync(join(DEPLOY, "gfs.env"), "utf8").split("\n");
  for (const u of UNITS) {
    const exec = /^ExecStart=(.*)$/m.exec(readFileSync(join(DEPLOY, u), "utf8"))![1]!;
    for (const [, key] of exec.matchAll(/\$\{(\w+)\}/g)) {
      const i = env.findIndex((l) => l.startsWith(`${key}=`));
      expect(i, `${key} in gfs.env`).toBeGreaterThan(0);
      expect(env[i - 1]!.startsWith("#"), `a comment above ${key}`).toBe(true);
    }
    const [, command] = exec.split(" ");
    const help = (await runGfs([command!, "--help"])).stdout;
    for (const [flag] of exec.matchAll(/--[a-z-]+/g)) expect(help, `${command} ${flag}`).toContain(`${flag}=`);
  }
});
