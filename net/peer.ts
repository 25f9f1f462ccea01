// A connection to one peer: a Bun socket with a send queue and backpressure,
// frame decoding, request ids with many requests in flight, timeouts, typed
// errors, and the handshake. Only net/ knows Bun's socket API.
import type { Socket, TCPSocketListener } from "bun";
import { ErrorCode, GfsError, fromWireError, toWireError } from "./errors";
import { checkFrameHead, decodeMessage, encodeMessage } from "./envelope";
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder } from "./frame";
import { clientProof, macEqual, newNonce, serverProof } from "./handshake";
import { notifyProblem, requestProblem } from "./schemas";
import {
  NOTIFY_TYPES,
  PROTOCOL_VERSION,
  REQUEST_TYPES,
  type Notifies,
  type NotifyType,
  type RepBody,
  type ReqBody,
  type RequestType,
  type Role,
} from "./messages";

export type RequestHandler = (type: RequestType, body: any, peer: Peer) => unknown | Promise<unknown>;
export type NotifyHandler = (type: NotifyType, body: any, peer: Peer) => void;

export interface PeerLogger {
  warn(msg: string): void;
  debug?(msg: string): void;
}

/** Records requests served and their replies as they crossed the wire; both calls copy what they keep (the bytes are reused). */
export interface RpcRecorder {
  /** A request arrived: its envelope's msgpack. */
  request(peer: Peer, head: Uint8Array): void;
  /** Its reply was sent, `ms` after the request arrived: the reply's frame (length prefix, body header and envelope; never a data tail). */
  reply(peer: Peer, ms: number, frame: Uint8Array): void;
}

export interface PeerOptions {
  secret?: Uint8Array | null;
  maxFrameBytes?: number;
  onRequest?: RequestHandler;
  onNotify?: NotifyHandler;
  onClose?: (peer: Peer, reason: string) => void;
  /** Told of every request served: its type, "ok" or the error code, how long it took and who sent it. */
  onServed?: (type: RequestType, outcome: string, ms: number, peer: Peer) => void;
  /** Given every request served and its reply as their bytes (the RPC log, core/rpc-log.ts). */
  rpcLog?: RpcRecorder;
  logger?: PeerLogger;
  /**
   * A connection with calls waiting that receives nothing for this long is
   * given up (its calls fail with UNAVAILABLE). A live peer never falls
   * silent on a connection it is busy with: it sends a keep-alive after a
   * second without writing, however slowly the data moves. Default 5 s.
   */
  stallMs?: number;
  /** Accepted connections at most (listen only). */
  maxConnections?: number;
  /** Idle accepted connections are closed after this long (listen only). */
  idleMs?: number;
}

const SEND_HIGH_WATER_BYTES = 4 * 1024 * 1024;
/** Unsent replies to one peer above which we stop reading its requests (a reader keeps many pieces in flight). */
const REPLY_BACKLOG_BYTES = 16 * 1024 * 1024;
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Largest frame a peer may send before the handshake is done (hello and auth are tiny). */
export const HANDSHAKE_MAX_FRAME_BYTES = 4 * 1024;
/** Connections a daemon accepts at once; more are closed on arrival. */
export const DEFAULT_MAX_CONNECTIONS = 4096;
/** An accepted connection that completes no frame for this long, while nothing waits on it, is closed. */
export const DEFAULT_IDLE_MS = 120_000;

/** Tails up to this size are copied behind their frame's head and sent in one write. */
const JOINED_TAIL_BYTES = 16 * 1024;

/** Why reading from a socket is paused; it reads again once no reason is left. */
export const PAUSE_FOR_DOWNSTREAM = 1; // a push is forwarded to a congested next hop (W4)
const PAUSE_FOR_REPLIES = 2; // the peer does not read the replies it asked for (R5)

type State = "handshake" | "ready" | "closed";

interface Pending {
  resolve(v: unknown): void;
  reject(e: GfsError): void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export const DEFAULT_STALL_MS = 5_000;

/** Busy peers, checked by one timer per process: keep-alives out, stalls detected. */
const watched = new Set<Peer>();
let watchTimer: ReturnType<typeof setInterval> | null = null;
/** A busy connection on which we wrote nothing for this long gets a keep-alive. */
const KEEPALIVE_MS = 1_000;

function watch(peer: Peer): void {
  watched.add(peer);
  if (watchTimer) return;
  watchTimer = setInterval(() => {
    const now = Date.now();
    for (const p of watched) p.tick(now);
    if (watched.size === 0 && watchTimer) {
      clearInterval(watchTimer);
      watchTimer = null;
    }
  }, 200);
  watchTimer.unref?.();
}

export class Peer {
  state: State = "handshake";
  /** Name of the remote side: HOST:PORT it connected from or to. */
  remote: string;
  /** Role the remote side declared in its hello (server side only). */
  remoteRole: Role | null = null;
  /** Free slot for the owner (for example the chunk server record on the master). */
  tag: unknown = null;

  private readonly decoder: FrameDecoder;
  private readonly sendQueue: Uint8Array[] = [];
  private queuedBytes = 0;
  private drainWaiters: (() => void)[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private challenge: Uint8Array | null = null;
  private closeReason = "";
  private pauses = 0;
  /** When the last whole frame arrived (idle connections are closed). */
  lastFrameMs = Date.now();
  /** When bytes last arrived, and when the socket last took bytes of ours. */
  private lastRecvMs = Date.now();
  private lastSentMs = Date.now();
  /** Requests from the peer being served here. */
  private serving = 0;

  constructor(
    private readonly socket: Socket<any>,
    readonly isServerSide: boolean,
    private readonly opts: PeerOptions,
  ) {
    this.remote = `${socket.remoteAddress}:${(socket as any).remotePort ?? "?"}`;
    // Until a peer that connected to us has shown it belongs, it may send only tiny frames.
    this.decoder = new FrameDecoder(isServerSide ? HANDSHAKE_MAX_FRAME_BYTES : (opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES), checkFrameHead);
    // Requests are small and latency-bound: never hold a frame back waiting for an ACK.
    socket.setNoDelay?.(true);
  }

  get closed(): boolean {
    return this.state === "closed";
  }

  get sendQueuedBytes(): number {
    return this.queuedBytes;
  }

  // ---- outgoing ----

  /**
   * Sends a request; resolves with the reply. There is no wall-clock limit
   * unless `timeoutMs` is given: a call waits while its peer is alive and
   * fails once the connection stalls (see `stallMs`).
   */
  call<T extends RequestType>(type: T, body: ReqBody<T>, timeoutMs?: number): Promise<RepBody<T>> {
    return this.request(type, body, null, timeoutMs);
  }

  /**
   * A request whose body's `data` is sent as the frame's tail, never encoded
   * as msgpack (a small one is copied behind the head; a bigger one goes to
   * the socket as it is and must not change meanwhile).
   */
  callData<T extends RequestType>(type: T, fields: Omit<ReqBody<T>, "data">, data: Uint8Array, timeoutMs?: number): Promise<RepBody<T>> {
    return this.request(type, fields, data, timeoutMs);
  }

  private request<T extends RequestType>(type: T, body: unknown, tail: Uint8Array | null, timeoutMs: number | undefined): Promise<RepBody<T>> {
    if (this.state === "closed") return Promise.reject(new GfsError(ErrorCode.UNAVAILABLE, `connection to ${this.remote} is closed${this.closeReason ? `: ${this.closeReason}` : ""}`));
    const id = this.nextId++;
    if (this.nextId > 0x7fffffff) this.nextId = 1;
    if (this.pending.size === 0) {
      // Quiet until now: silence is measured from here.
      this.lastRecvMs = Date.now();
      watch(this);
    }
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.pending.delete(id);
              reject(new GfsError(ErrorCode.TIMEOUT, `${type} to ${this.remote} timed out after ${timeoutMs} ms`));
            }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      if (tail === null) this.send({ i: id, t: type, b: body });
      else this.sendWithTail({ i: id, t: type, b: body }, tail);
    });
  }

  /**
   * Every 200 ms while the connection is busy: a keep-alive when we wrote
   * nothing for a second (so the peer can tell slow from stopped), and the
   * connection is given up when calls wait and nothing arrived for
   * `stallMs` (the peer stopped, or the link did).
   */
  tick(nowMs: number): void {
    const stallMs = this.opts.stallMs ?? DEFAULT_STALL_MS;
    const busy = this.pending.size > 0 || this.serving > 0 || this.pauses !== 0 || nowMs - this.lastRecvMs < stallMs;
    if (this.state === "closed" || !busy) {
      watched.delete(this);
      return;
    }
    if (this.pending.size > 0 && nowMs - this.lastRecvMs >= stallMs) {
      this.opts.logger?.warn(`giving up the connection to ${this.remote}: nothing received for ${stallMs} ms with ${this.pending.size} call(s) waiting`);
      this.close(`${this.remote} sent nothing for ${stallMs} ms`);
      return;
    }
    if (this.state === "ready" && this.sendQueue.length === 0 && nowMs - this.lastSentMs >= KEEPALIVE_MS) this.notify("progress", {});
  }

  notify<T extends NotifyType>(type: T, body: Notifies[T]): void {
    if (this.state === "closed") return;
    this.send({ i: 0, t: type, b: body });
  }

  get isWritable(): boolean {
    return this.queuedBytes < SEND_HIGH_WATER_BYTES;
  }

  /**
   * A notify whose body ends with `data: <bytes>`, sent as the frame's tail
   * like `callData`'s.
   */
  notifyData<T extends NotifyType>(type: T, fields: Omit<Notifies[T], "data">, data: Uint8Array): void {
    if (this.state === "closed") return;
    this.sendWithTail({ i: 0, t: type, b: fields }, data);
  }

  /** Resolves once the send queue is below the high-water mark (W4). */
  writable(): Promise<void> {
    if (this.queuedBytes < SEND_HIGH_WATER_BYTES || this.state === "closed") return Promise.resolve();
    return new Promise((r) => this.drainWaiters.push(r));
  }

  /** Whether this side has stopped reading the connection (backpressure). */
  get readingPaused(): boolean {
    return this.pauses !== 0;
  }

  /** How long ago bytes last arrived on this connection. */
  receivedAgoMs(nowMs: number): number {
    return nowMs - this.lastRecvMs;
  }

  /** Calls waiting for a reply on this connection. */
  get pendingCalls(): number {
    return this.pending.size;
  }

  pauseReading(reason = PAUSE_FOR_DOWNSTREAM): void {
    if (this.pauses === 0) (this.socket as any).pause?.();
    this.pauses |= reason;
  }

  resumeReading(reason = PAUSE_FOR_DOWNSTREAM): void {
    if (this.pauses === 0) return;
    this.pauses &= ~reason;
    if (this.pauses === 0) {
      // Silence from the peer while we did not read is not its silence.
      this.lastRecvMs = Date.now();
      (this.socket as any).resume?.();
    }
  }

  close(reason: string): void {
    if (this.state === "closed") return;
    this.closeReason = reason;
    this.markClosed(reason);
    try {
      this.socket.end();
    } catch {}
  }

  /** Sends an envelope with `data` as the frame's raw tail (net/envelope.ts): the bytes are never encoded as msgpack. */
  private sendWithTail(envelope: unknown, data: Uint8Array): Uint8Array {
    // A small tail is copied behind the head: one write instead of two.
    const joined = data.byteLength <= JOINED_TAIL_BYTES;
    const frame = encodeMessage(envelope, data, joined);
    this.write(frame);
    if (!joined) this.write(data);
    return joined ? frame.subarray(0, frame.byteLength - data.byteLength) : frame;
  }

  /** Sends an envelope; returns its frame. */
  private send(envelope: unknown): Uint8Array {
    const frame = encodeMessage(envelope);
    this.write(frame);
    return frame;
  }

  private write(bytes: Uint8Array): void {
    if (this.sendQueue.length === 0) {
      const n = this.socket.write(bytes);
      if (n > 0) this.lastSentMs = Date.now();
      if (n === bytes.byteLength) return;
      if (n < 0) return; // closed; the close handler rejects pending calls
      bytes = bytes.subarray(n);
    }
    this.sendQueue.push(bytes);
    this.queuedBytes += bytes.byteLength;
    // A peer that asks and does not read the answers is not read from until it does.
    if (this.isServerSide && this.queuedBytes > REPLY_BACKLOG_BYTES) this.pauseReading(PAUSE_FOR_REPLIES);
  }

  // ---- socket events ----

  onDrain(): void {
    while (this.sendQueue.length > 0) {
      const head = this.sendQueue[0]!;
      const n = this.socket.write(head);
      if (n < 0) return;
      if (n > 0) this.lastSentMs = Date.now();
      this.queuedBytes -= Math.max(n, 0);
      if (n < head.byteLength) {
        this.sendQueue[0] = head.subarray(n);
        break;
      }
      this.sendQueue.shift();
    }
    if (this.queuedBytes < REPLY_BACKLOG_BYTES / 2) this.resumeReading(PAUSE_FOR_REPLIES);
    if (this.queuedBytes < SEND_HIGH_WATER_BYTES && this.drainWaiters.length > 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  onData(chunk: Uint8Array): void {
    if (this.state === "closed") return;
    this.lastRecvMs = Date.now();
    watch(this);
    let frames: Uint8Array[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.violation(`bad frame: ${(err as Error).message}`);
      return;
    }
    if (frames.length > 0) this.lastFrameMs = Date.now();
    for (const frame of frames) {
      if (this.closed) return;
      let msg: any;
      let tail: Uint8Array | null;
      let head: Uint8Array;
      try {
        ({ envelope: msg, tail, head } = decodeMessage(frame));
      } catch (err) {
        this.violation((err as Error).message);
        return;
      }
      if (tail !== null) {
        // The tail is the `data` field of the request's or the reply's body.
        const body = typeof msg?.t === "string" ? msg.b : msg?.r;
        if (typeof body !== "object" || body === null || Array.isArray(body)) return this.violation("a data tail on a message without a body");
        body.data = tail;
      }
      this.dispatch(msg, head);
    }
  }

  onClosed(why: string): void {
    this.markClosed(why);
  }

  private markClosed(why: string): void {
    if (this.state === "closed" && this.pending.size === 0) return;
    const wasClosed = this.state === "closed";
    this.state = "closed";
    if (!this.closeReason) this.closeReason = why;
    for (const [, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(new GfsError(ErrorCode.UNAVAILABLE, `connection to ${this.remote} closed: ${this.closeReason}`));
    }
    this.pending.clear();
    for (const w of this.drainWaiters) w();
    this.drainWaiters = [];
    if (!wasClosed) this.opts.onClose?.(this, this.closeReason);
  }

  private violation(reason: string): void {
    this.opts.logger?.warn(`closing connection from ${this.remote}: ${reason}`);
    this.close(reason);
  }

  private dispatch(msg: any, head: Uint8Array): void {
    if (typeof msg !== "object" || msg === null || typeof msg.i !== "number" || !Number.isInteger(msg.i) || msg.i < 0) {
      this.violation("message is not an envelope");
      return;
    }
    if (typeof msg.t !== "string") {
      // A reply.
      const p = this.pending.get(msg.i);
      if (!p) return; // late reply after a timeout
      this.pending.delete(msg.i);
      if (p.timer) clearTimeout(p.timer);
      if (msg.e !== undefined) p.reject(fromWireError(msg.e));
      else p.resolve(msg.r ?? {});
      return;
    }
    const type = msg.t;
    if (msg.i === 0) {
      if (!NOTIFY_TYPES.has(type)) return this.violation(`unknown message type ${JSON.stringify(type).slice(0, 40)}`);
      if (this.state !== "ready") return this.violation(`${type} before handshake`);
      if (type === "progress") return; // a keep-alive: its arrival is all it says
      const bad = notifyProblem(type as NotifyType, msg.b);
      if (bad) return this.violation(`malformed ${type}: ${bad}`);
      try {
        this.opts.onNotify?.(type as NotifyType, msg.b, this);
      } catch (err) {
        this.violation(`${type}: ${(err as Error).message}`);
      }
      return;
    }
    if (!REQUEST_TYPES.has(type)) return this.violation(`unknown message type ${JSON.stringify(type).slice(0, 40)}`);
    if (this.state === "handshake") {
      if (!this.isServerSide) return this.violation(`${type} before handshake`);
      if (typeof msg.b !== "object" || msg.b === null) return this.violation(`${type} without a body`);
      this.handshakeStep(msg.i, type, msg.b);
      return;
    }
    if (type === "hello" || type === "auth") return this.violation(`${type} after handshake`);
    const log = this.opts.rpcLog;
    log?.request(this, head);
    const bad = requestProblem(type as RequestType, msg.b);
    if (bad) {
      const frame = this.send({ i: msg.i, e: { code: ErrorCode.INVALID_ARGUMENT, message: `malformed ${type}: ${bad}` } });
      log?.reply(this, 0, frame);
      return;
    }
    this.serve(msg.i, type as RequestType, msg.b);
  }

  private async serve(id: number, type: RequestType, body: unknown): Promise<void> {
    const handler = this.opts.onRequest;
    this.serving++;
    const t0 = performance.now();
    let outcome = "ok";
    let frame: Uint8Array | null = null;
    try {
      if (!handler) throw new GfsError(ErrorCode.NOT_IMPLEMENTED, `${type} is not served here`);
      const result = (await handler(type, body, this)) as Record<string, unknown> | undefined;
      if (this.state === "closed") return;
      const data = result?.data;
      if (data instanceof Uint8Array) {
        const { data: _, ...rest } = result!;
        frame = this.sendWithTail({ i: id, r: rest }, data);
      } else frame = this.send({ i: id, r: result ?? {} });
    } catch (err) {
      const wire = toWireError(err);
      outcome = wire.code;
      if (this.state !== "closed") frame = this.send({ i: id, e: wire });
    } finally {
      this.serving--;
      const ms = performance.now() - t0;
      this.opts.onServed?.(type, outcome, ms, this);
      if (frame) this.opts.rpcLog?.reply(this, ms, frame);
    }
  }

  private reply(id: number, r: unknown): void {
    this.send({ i: id, r });
  }

  private refuse(id: number, code: ErrorCode, message: string): void {
    this.send({ i: id, e: { code, message } });
    this.opts.logger?.warn(`refused ${this.remote}: ${message}`);
    this.close(message);
  }

  private handshakeStep(id: number, type: string, body: any): void {
    const secret = this.opts.secret ?? null;
    if (type === "hello" && this.challenge === null) {
      if (body.proto !== PROTOCOL_VERSION) return this.refuse(id, ErrorCode.PROTOCOL, `protocol version ${body.proto} is not supported (this server speaks ${PROTOCOL_VERSION})`);
      this.remoteRole = body.role === "chunkserver" || body.role === "master" ? body.role : "client";
      if (!secret) {
        this.becomeReady();
        return this.reply(id, { proto: PROTOCOL_VERSION });
      }
      this.challenge = newNonce();
      return this.reply(id, { proto: PROTOCOL_VERSION, challenge: this.challenge });
    }
    if (type === "auth" && this.challenge !== null && secret) {
      const nonce = body.nonce;
      if (!(nonce instanceof Uint8Array) || nonce.byteLength < 16) return this.refuse(id, ErrorCode.AUTH, "authentication failed: malformed nonce");
      if (!macEqual(clientProof(secret, this.challenge, nonce), body.mac)) {
        return this.refuse(id, ErrorCode.AUTH, "authentication failed: wrong cluster secret");
      }
      this.becomeReady();
      return this.reply(id, { mac: serverProof(secret, this.challenge, nonce) });
    }
    this.violation(`unexpected ${type} during handshake`);
  }

  private becomeReady(): void {
    this.state = "ready";
    this.decoder.maxFrameBytes = this.opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  /** Client side of the handshake; resolves when the connection is ready. */
  async handshake(role: Role, name: string): Promise<void> {
    const secret = this.opts.secret ?? null;
    const helloRep = await this.call("hello", { proto: PROTOCOL_VERSION, role, name }, HANDSHAKE_TIMEOUT_MS);
    if (helloRep.challenge) {
      if (!secret) throw new GfsError(ErrorCode.AUTH, `${this.remote} requires a cluster secret (--secret-file, GFS_SECRET_FILE or GFS_SECRET)`);
      const nonce = newNonce();
      const authRep = await this.call("auth", { mac: clientProof(secret, helloRep.challenge, nonce), nonce }, HANDSHAKE_TIMEOUT_MS);
      if (!macEqual(serverProof(secret, helloRep.challenge, nonce), authRep.mac)) {
        throw new GfsError(ErrorCode.AUTH, `${this.remote} failed to prove the cluster secret`);
      }
    } else if (secret) {
      throw new GfsError(ErrorCode.AUTH, `${this.remote} does not use a cluster secret but one is configured here`);
    }
    this.state = "ready";
  }
}

// ---- listening and connecting ----

/** Socket events, the same for both ends: each goes to the socket's Peer. */
const peerEvents = {
  data(socket: Socket<Peer | undefined>, chunk: Uint8Array) {
    socket.data?.onData(chunk);
  },
  drain(socket: Socket<Peer | undefined>) {
    socket.data?.onDrain();
  },
  close(socket: Socket<Peer | undefined>) {
    socket.data?.onClosed("closed by peer");
  },
  error(socket: Socket<Peer | undefined>, err: Error) {
    socket.data?.onClosed(err.message);
  },
};

export interface Listener {
  readonly host: string;
  readonly port: number;
  readonly peers: Set<Peer>;
  stop(): void;
}

export function listen(host: string, port: number, opts: PeerOptions): Listener {
  const peers = new Set<Peer>();
  const maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const idleMs = opts.idleMs ?? DEFAULT_IDLE_MS;
  let refusedSinceLog = 0;
  let server: TCPSocketListener<Peer | undefined>;
  try {
    server = Bun.listen<Peer | undefined>({
      hostname: host,
      port,
      data: undefined,
      socket: {
        open(socket) {
          if (peers.size >= maxConnections) {
            if (refusedSinceLog++ === 0) opts.logger?.warn(`refusing connections from ${socket.remoteAddress}: ${maxConnections} are open already`);
            socket.end();
            return;
          }
          const peer = new Peer(socket, true, {
            ...opts,
            onClose: (p, why) => {
              peers.delete(p);
              opts.onClose?.(p, why);
            },
          });
          socket.data = peer;
          peers.add(peer);
          // A peer that never completes the handshake is dropped.
          setTimeout(() => {
            if (peer.state === "handshake") peer.close("no handshake");
          }, HANDSHAKE_TIMEOUT_MS).unref?.();
        },
        ...peerEvents,
      },
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "EADDRINUSE" ? "the address is already in use (EADDRINUSE: is another daemon running on this port?)"
      : code === "EADDRNOTAVAIL" ? "no interface of this machine has that address (EADDRNOTAVAIL)"
      : code === "EACCES" ? "permission denied (EACCES: ports below 1024 need privileges)"
      : `${(err as Error).message}${code ? ` (${code})` : ""}`;
    throw new GfsError(ErrorCode.UNAVAILABLE, `cannot listen on ${host}:${port}: ${why}`);
  }
  // Connections that neither send whole frames nor wait for anything are closed.
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const p of peers) if (now - p.lastFrameMs > idleMs && p.pendingCalls === 0) p.close(`idle for ${Math.round((now - p.lastFrameMs) / 1000)} s`);
    if (refusedSinceLog > 1) opts.logger?.warn(`refused ${refusedSinceLog - 1} more connections: ${maxConnections} are open`);
    refusedSinceLog = 0;
  }, Math.min(10_000, Math.max(100, idleMs / 4)));
  sweep.unref?.();
  return {
    host,
    port: server.port,
    peers,
    stop() {
      clearInterval(sweep);
      server.stop(true);
      for (const p of peers) p.close("server stopping");
    },
  };
}

/** Whether a listen host is reachable only from this machine. */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

export function parseAddr(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(":");
  if (i <= 0) throw new GfsError(ErrorCode.INVALID_ARGUMENT, `address must be HOST:PORT, got '${addr}'`);
  const host = addr.slice(0, i).replace(/^\[|\]$/g, "");
  const port = Number(addr.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new GfsError(ErrorCode.INVALID_ARGUMENT, `bad port in '${addr}'`);
  return { host, port };
}

/** Connecting and the handshake together take at most `timeoutMs` (a stalled peer accepts TCP connections but never answers). */
export async function connect(addr: string, role: Role, name: string, opts: PeerOptions, timeoutMs = opts.stallMs ?? DEFAULT_STALL_MS): Promise<Peer> {
  const { host, port } = parseAddr(addr);
  let peer: Peer | undefined;
  const connecting = Bun.connect<Peer | undefined>({
    hostname: host,
    port,
    data: undefined,
    socket: {
      open(socket) {
        peer = new Peer(socket, false, opts);
        peer.remote = addr;
        socket.data = peer;
      },
      ...peerEvents,
      connectError(_socket, _err) {},
    },
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new GfsError(ErrorCode.UNAVAILABLE, `cannot reach ${addr}: timed out`)), timeoutMs);
  });
  try {
    await Promise.race([connecting, timeout]);
  } catch (err) {
    clearTimeout(timer);
    if (err instanceof GfsError) throw err;
    throw new GfsError(ErrorCode.UNAVAILABLE, `cannot reach ${addr}: ${(err as Error).message}`);
  }
  if (!peer) {
    clearTimeout(timer);
    throw new GfsError(ErrorCode.UNAVAILABLE, `cannot reach ${addr}`);
  }
  try {
    await Promise.race([peer.handshake(role, name), timeout]);
  } catch (err) {
    peer.close("handshake failed");
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return peer;
}
