// Opens a client from the common command-line arguments.
import { connect, type GfsClient } from "../core/client";
import { UsageError, loadSecret, masterAddress, parseDuration } from "./options";

type ClientArgs = { master?: unknown; "secret-file"?: unknown; deadline?: unknown };

export function clientFrom(args: ClientArgs): GfsClient {
  return connect({
    master: masterAddress(args.master),
    secret: loadSecret(args["secret-file"]),
    deadlineMs: args.deadline !== undefined ? parseDuration(args.deadline, "--deadline") : undefined,
    onWait: (msg) => process.stderr.write(`gfs: ${msg}\n`),
    onWarn: (msg) => process.stderr.write(`gfs: warning: ${msg}\n`),
  });
}

/** Runs `fn` with a client and closes it afterwards. */
export async function withClient<T>(args: ClientArgs, fn: (c: GfsClient) => Promise<T>): Promise<T> {
  const client = clientFrom(args);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** Remote paths must be absolute; a missing leading slash is a usage error. */
export function remotePath(p: unknown, what = "path"): string {
  const s = String(p ?? "");
  if (!s.startsWith("/")) {
    throw new UsageError(`${what} must be an absolute remote path starting with '/', got '${s}'`);
  }
  return s;
}
