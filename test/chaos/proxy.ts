// A faulty TCP proxy in front of a chunk server (the chaos run's network
// nemesis, and the slow links of the liveness tests). Every byte to and from
// the server passes through it; its fault can be changed at any time:
//   pass    forward as is
//   delay   hold each piece for `ms` before forwarding (order kept)
//   stall   forward nothing (both ways) until the fault changes
//   flip    damage one byte of a piece with probability `p`
//   cut     close every connection now (then pass)
// and `inboundBytesPerSec` limits the bytes towards the server, like a slow NIC.
// Queues are bounded: a full queue stops reading from its source.
import type { Socket, TCPSocketListener } from "bun";
import { Prng } from "./prng";

export type Fault = { kind: "pass" } | { kind: "delay"; ms: number } | { kind: "stall" } | { kind: "flip"; p: number };

const QUEUE_LIMIT_BYTES = 4 * 1024 * 1024;

interface Piece {
  bytes: Uint8Array;
  readyAtMs: number;
}

class Direction {
  readonly queue: Piece[] = [];
  queuedBytes = 0;
  dst: Socket<any> | null = null;
  src: Socket<any> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private paused = false;
  /** Bytes this direction may still send under the link's rate limit. */
  allowance = 0;

  constructor(private readonly proxy: FaultyProxy, readonly inbound: boolean) {}

  push(bytes: Uint8Array): void {
    const f = this.proxy.fault;
    if (f.kind === "flip" && bytes.byteLength > 0 && this.proxy.rng.chance(f.p)) {
      bytes = Uint8Array.from(bytes);
      const at = this.proxy.rng.int(0, bytes.byteLength - 1);
      bytes[at] = bytes[at]! ^ (1 << this.proxy.rng.int(0, 7));
      this.proxy.stats.flipped++;
    } else bytes = Uint8Array.from(bytes); // Bun reuses its read buffer
    this.queue.push({ bytes, readyAtMs: Date.now() + (f.kind === "delay" ? f.ms : 0) });
    this.queuedBytes += bytes.byteLength;
    if (this.queuedBytes > QUEUE_LIMIT_BYTES && !this.paused) {
      this.paused = true;
      this.src?.pause();
    }
    this.pump();
  }

  pump(): void {
    if (this.timer) return;
    for (;;) {
      const head = this.queue[0];
      if (!head || !this.dst) break;
      if (this.proxy.fault.kind === "stall") return;
      const now = Date.now();
      const waitMs = head.readyAtMs - now;
      let n = head.bytes.byteLength;
      if (this.inbound && this.proxy.inboundBytesPerSec > 0) {
        // The link's bytes are shared out fairly by the proxy's scheduler.
        n = Math.min(n, this.allowance);
        if (n === 0) {
          this.proxy.wantsBytes(this);
          return;
        }
      }
      if (waitMs > 0) {
        this.timer = setTimeout(() => {
          this.timer = null;
          this.pump();
        }, waitMs);
        return;
      }
      const wrote = this.dst.write(head.bytes.subarray(0, n));
      if (wrote <= 0) return; // drain will pump again
      if (this.inbound && this.proxy.inboundBytesPerSec > 0) this.allowance -= wrote;
      this.queuedBytes -= wrote;
      if (wrote < head.bytes.byteLength) {
        head.bytes = head.bytes.subarray(wrote);
        if (wrote < n) return; // the socket is full: wait for drain
        continue;
      }
      this.queue.shift();
    }
    if (this.paused && this.queuedBytes < QUEUE_LIMIT_BYTES / 2) {
      this.paused = false;
      this.src?.resume();
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

interface Pair {
  client: Socket<any>;
  server: Socket<any> | null;
  up: Direction; // client -> server
  down: Direction; // server -> client
}

export class FaultyProxy {
  fault: Fault = { kind: "pass" };
  /** Bytes per second towards the server, 0 for no limit. */
  inboundBytesPerSec = 0;
  readonly stats = { connections: 0, cuts: 0, flipped: 0 };
  readonly rng: Prng;
  private listener: TCPSocketListener<Pair | undefined> | null = null;
  private readonly pairs = new Set<Pair>();
  private readonly waiting = new Set<Direction>();
  private shareTimer: ReturnType<typeof setInterval> | null = null;
  private sharedAtMs = Date.now();

  constructor(public targetPort: number, seed = 1) {
    this.rng = new Prng(seed);
  }

  get port(): number {
    return this.listener!.port;
  }

  start(): this {
    this.listener = Bun.listen<Pair | undefined>({
      hostname: "127.0.0.1",
      port: 0,
      data: undefined,
      socket: {
        open: (client) => this.accept(client),
        data: (client, bytes) => client.data?.up.push(bytes),
        drain: (client) => client.data?.down.pump(),
        close: (client) => this.drop(client.data),
        error: (client) => this.drop(client.data),
      },
    });
    return this;
  }

  setFault(f: Fault): void {
    this.fault = f;
    if (f.kind !== "stall") for (const p of this.pairs) {
      p.up.pump();
      p.down.pump();
    }
  }

  /** Closes every connection through the proxy. */
  cut(): void {
    this.stats.cuts++;
    for (const p of [...this.pairs]) this.drop(p);
  }

  stop(): void {
    this.cut();
    if (this.shareTimer) clearInterval(this.shareTimer);
    this.listener?.stop(true);
  }

  /** A rate-limited direction waits for its share of the link. */
  wantsBytes(d: Direction): void {
    this.waiting.add(d);
    if (this.shareTimer) return;
    this.sharedAtMs = Date.now();
    this.shareTimer = setInterval(() => this.share(), 10);
  }

  /** Every 10 ms: the bytes the link carried in that time, shared out in turn among the directions waiting. */
  private share(): void {
    const now = Date.now();
    let budget = Math.floor(((now - this.sharedAtMs) / 1000) * this.inboundBytesPerSec);
    this.sharedAtMs = now;
    const ready = [...this.waiting];
    this.waiting.clear();
    while (budget > 0 && ready.length > 0) {
      const each = Math.max(1024, Math.floor(budget / ready.length));
      for (let i = 0; i < ready.length && budget > 0; i++) {
        const give = Math.min(each, budget);
        ready[i]!.allowance = Math.min(ready[i]!.allowance + give, 256 * 1024);
        budget -= give;
      }
      break;
    }
    for (const d of ready) d.pump();
    if (this.waiting.size === 0 && ready.length === 0 && this.shareTimer) {
      clearInterval(this.shareTimer);
      this.shareTimer = null;
    }
  }

  private accept(client: Socket<Pair | undefined>): void {
    this.stats.connections++;
    const pair: Pair = { client, server: null, up: new Direction(this, true), down: new Direction(this, false) };
    client.data = pair;
    pair.up.src = client;
    pair.down.dst = client;
    this.pairs.add(pair);
    Bun.connect<Pair>({
      hostname: "127.0.0.1",
      port: this.targetPort,
      data: pair,
      socket: {
        open: (server) => {
          if (!this.pairs.has(pair)) {
            server.end();
            return;
          }
          pair.server = server;
          pair.up.dst = server;
          pair.down.src = server;
          pair.up.pump();
        },
        data: (server, bytes) => server.data.down.push(bytes),
        drain: (server) => server.data.up.pump(),
        close: (server) => this.drop(server.data),
        error: (server) => this.drop(server.data),
        connectError: () => this.drop(pair),
      },
    }).catch(() => this.drop(pair));
  }

  private drop(pair: Pair | undefined): void {
    if (!pair || !this.pairs.delete(pair)) return;
    pair.up.close();
    pair.down.close();
    try {
      pair.client.end();
    } catch {}
    try {
      pair.server?.end();
    } catch {}
  }
}
