// Daemons run until SIGTERM or SIGINT, then stop cleanly and exit 0.
import { logger } from "../core/log";

export function runUntilSignal(stop: () => void | Promise<void>): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = async (sig: string) => {
      if (stopping) return;
      stopping = true;
      logger("gfs").info(`${sig}: stopping`);
      try {
        await stop();
      } finally {
        resolve();
      }
    };
    process.on("SIGTERM", () => void onSignal("SIGTERM"));
    process.on("SIGINT", () => void onSignal("SIGINT"));
  });
}
