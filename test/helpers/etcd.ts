// A real etcd (Debian's etcd-server, or GFS_ETCD) on loopback for the HA
// tests: one member, its own data directory, killed with the test's other
// processes (stopAll).
import type { Subprocess } from "bun";
import { track, waitFor } from "./cluster";

const ETCD = process.env.GFS_ETCD ?? "etcd";

/** A port free right now (etcd cannot be told to pick one). */
async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

export class EtcdServer {
  proc!: Subprocess;
  url = "";
  private clientPort = 0;
  private peerPort = 0;

  constructor(readonly dataDir: string) {}

  async start(): Promise<this> {
    for (let attempt = 0; ; attempt++) {
      this.clientPort ||= await freePort();
      this.peerPort ||= await freePort();
      this.url = `http://127.0.0.1:${this.clientPort}`;
      const peer = `http://127.0.0.1:${this.peerPort}`;
      this.proc = Bun.spawn([
        ETCD, "--name", "t", "--data-dir", this.dataDir,
        "--listen-client-urls", this.url, "--advertise-client-urls", this.url,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", `t=${peer}`,
        "--log-level", "error",
      ], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
      track(this.proc);
      try {
        await waitFor("etcd to answer", async () => {
          if (this.proc.exitCode !== null) throw new Error(`etcd exited with ${this.proc.exitCode}`);
          const r = await fetch(`${this.url}/v3/kv/range`, { method: "POST", body: JSON.stringify({ key: "AA==" }), signal: AbortSignal.timeout(1000) });
          return r.ok;
        }, 20_000, 50);
        return this;
      } catch (err) {
        this.proc.kill("SIGKILL");
        await this.proc.exited;
        if (attempt >= 2) throw err;
        // A port taken between choosing and binding: choose again.
        this.clientPort = 0;
        this.peerPort = 0;
      }
    }
  }

  /** Starts it again on the same ports and data. */
  restart(): Promise<this> {
    return this.start();
  }
}

