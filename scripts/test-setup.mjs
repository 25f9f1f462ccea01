// Before the tests: what they need from outside npm (R: tests never skip).
// Debian's chromium for the status-page test, systemd (systemd-analyze)
// for the deploy/ units and etcd-server (the etcd binary) for the master
// high-availability tests, installed with apt-get when missing and this runs as
// root; otherwise the run stops here and says what to install.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const CHROMIUM = process.env.GFS_CHROMIUM ?? "/usr/bin/chromium";
const ETCD = process.env.GFS_ETCD ?? "etcd";

function aptInstall(pkgs) {
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const tryInstall = () => spawnSync("apt-get", ["install", "-y", "--no-install-recommends", ...pkgs], { stdio: "inherit", env }).status === 0;
  if (tryInstall()) return true;
  execFileSync("apt-get", ["update"], { stdio: "inherit", env });
  return tryInstall();
}

const missing = [];
if (!existsSync(CHROMIUM)) missing.push("chromium");
if (spawnSync("sh", ["-c", "command -v systemd-analyze"]).status !== 0) missing.push("systemd");
if (spawnSync("sh", ["-c", `command -v ${ETCD}`]).status !== 0) missing.push("etcd-server");
if (missing.length > 0) {
  const root = process.getuid?.() === 0;
  const apt = spawnSync("sh", ["-c", "command -v apt-get"]).status === 0;
  console.error(`test setup: installing ${missing.join(", ")} (Debian packages the tests need)`);
  if (!root || !apt || !aptInstall(missing)) {
    console.error(`test setup: the tests need ${missing.join(", ")}; install ${missing.length > 1 ? "them" : "it"} (Debian: apt-get install ${missing.join(" ")}) or set GFS_CHROMIUM to a Chromium binary, GFS_ETCD to an etcd 3.4 binary`);
    process.exit(1);
  }
}
