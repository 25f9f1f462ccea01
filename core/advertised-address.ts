// The address a daemon tells others to reach it at: the host it listens on,
// or, when that is every interface, this machine's first outside address.
import { networkInterfaces } from "node:os";

export function advertisedHost(listenHost: string): string {
  return listenHost === "0.0.0.0" || listenHost === "::" ? externalAddress() : listenHost;
}

/** The first non-loopback IPv4 address of this machine, else 127.0.0.1. */
function externalAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return "127.0.0.1";
}
