// One daemon per data directory: a `lock` file holding the owner's PID,
// created exclusively. A lock whose process is gone (a daemon SIGKILLed or a
// machine that rebooted) is taken over; one whose process runs is refused at
// once, before anything in the directory is touched.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, GfsError } from "../net/errors";

export class DataDirLock {
  private constructor(private readonly path: string) {}

  static take(dir: string, what: string): DataDirLock {
    const path = join(dir, "lock");
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(path, "wx");
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        return new DataDirLock(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      const owner = Number.parseInt(readFileSync(path, "utf8"), 10);
      if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && running(owner)) {
        throw new GfsError(ErrorCode.INVALID_ARGUMENT, `${dir} is in use by another ${what} (PID ${owner}); each needs its own --data directory (if no such process runs, remove ${path})`);
      }
      unlinkSync(path); // left by a process that is gone
    }
    throw new GfsError(ErrorCode.UNAVAILABLE, `cannot lock ${dir}: another process keeps taking ${path}`);
  }

  release(): void {
    try {
      if (Number.parseInt(readFileSync(this.path, "utf8"), 10) === process.pid) unlinkSync(this.path);
    } catch {}
  }
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
