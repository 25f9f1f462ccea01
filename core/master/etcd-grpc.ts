// gRPC over HTTP/2 to one etcd member (node:http2): one connection, opened on
// first use and again after it drops; each call a stream carrying
// length-prefixed protobuf messages (a 1-byte compression flag, always 0
// here, and a 4-byte big-endian length). The status comes in the trailers
// (`grpc-status`, `grpc-message`), or in the headers when there is no body.
import http2 from "node:http2";
import { readU32 } from "../../net/frame";

/** An answer from etcd itself (grpc-status other than 0). */
export class GrpcStatusError extends Error {
  constructor(readonly status: number, readonly grpcMessage: string, method: string) {
    super(`${method}: ${grpcMessage || `gRPC status ${status}`}`);
  }

  /** UNAVAILABLE or DEADLINE_EXCEEDED (etcd without a raft leader, say): another member may answer. */
  get transient(): boolean {
    return this.status === 14 || this.status === 4;
  }
}

/** The gRPC framing of one message. */
export function grpcFrame(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + message.byteLength);
  new DataView(out.buffer).setUint32(1, message.byteLength);
  out.set(message, 5);
  return out;
}

/** Cuts a stream's bytes into gRPC messages as they arrive; a message's chunks are joined once, when all are in. */
export class GrpcMessages {
  private chunks: Uint8Array[] = [];
  private buffered = 0;

  push(chunk: Uint8Array): Uint8Array[] {
    if (chunk.byteLength > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.byteLength;
    }
    const out: Uint8Array[] = [];
    while (this.buffered >= 5) {
      const head = this.front(5);
      if (head[0] !== 0) throw new Error("etcd sent a compressed gRPC message");
      const n = readU32(head, 1);
      if (this.buffered < 5 + n) break;
      out.push(this.front(5 + n).subarray(5));
      this.drop(5 + n);
    }
    return out;
  }

  /** The first `n` buffered bytes as one array (chunks joined only when they must be). */
  private front(n: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.byteLength >= n) return first.subarray(0, n);
    let k = 0;
    let have = 0;
    while (have < n) have += this.chunks[k++]!.byteLength;
    const joined = new Uint8Array(have);
    let at = 0;
    for (let i = 0; i < k; i++) {
      joined.set(this.chunks[i]!, at);
      at += this.chunks[i]!.byteLength;
    }
    this.chunks.splice(0, k, joined);
    return joined.subarray(0, n);
  }

  private drop(n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const first = this.chunks[0]!;
      if (first.byteLength > n) {
        this.chunks[0] = first.subarray(n);
        return;
      }
      n -= first.byteLength;
      this.chunks.shift();
    }
  }
}

/** A stream in progress: messages can be sent on it until it is ended or cancelled. */
export interface GrpcStream {
  send(message: Uint8Array): void;
  cancel(): void;
  /** Resolves when the stream is over, with why. */
  closed: Promise<string>;
}

export class GrpcChannel {
  private session: http2.ClientHttp2Session | null = null;

  constructor(readonly url: string) {}

  private connection(): http2.ClientHttp2Session {
    const s = this.session;
    if (s && !s.closed && !s.destroyed) return s;
    const fresh = http2.connect(this.url);
    fresh.on("error", () => {}); // each stream reports its own failure
    fresh.on("close", () => {
      if (this.session === fresh) this.session = null;
    });
    this.session = fresh;
    return fresh;
  }

  close(): void {
    this.session?.close();
    this.session = null;
  }

  /** One request, one reply (also a bidirectional method given one message: etcd answers it, then sees the end). */
  unary(method: string, message: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const replies: Uint8Array[] = [];
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (err: Error | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else if (replies.length > 0) resolve(replies[0]!);
        else reject(new Error(`${method}: etcd ended the call without a reply`));
      };
      let req: http2.ClientHttp2Stream;
      let session: http2.ClientHttp2Session;
      try {
        session = this.connection();
        req = session.request({ ":method": "POST", ":path": method, "content-type": "application/grpc", te: "trailers" });
      } catch (err) {
        this.session = null;
        return reject(err as Error);
      }
      timer = setTimeout(() => {
        req.close(http2.constants.NGHTTP2_CANCEL);
        // A connection that does not answer in time is not trusted with the next call.
        session.destroy();
        if (this.session === session) this.session = null;
        done(new Error(`${method} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const messages = new GrpcMessages();
      let status: string | undefined;
      let why = "";
      const statusFrom = (h: http2.IncomingHttpHeaders) => {
        if (h["grpc-status"] !== undefined) {
          status = String(h["grpc-status"]);
          why = decodeURIComponent(String(h["grpc-message"] ?? ""));
        }
      };
      const finished = () => (status !== undefined && status !== "0" ? new GrpcStatusError(Number(status), why, method) : null);
      req.on("response", (h) => {
        statusFrom(h);
        // A status in the headers is a trailers-only answer (an error): nothing follows it.
        if (status !== undefined) done(finished() ?? new Error(`${method}: etcd answered without a reply`));
      });
      req.on("trailers", statusFrom);
      req.on("data", (chunk: Uint8Array) => {
        try {
          replies.push(...messages.push(chunk));
        } catch (err) {
          done(err as Error);
        }
      });
      req.on("end", () => done(finished()));
      req.on("error", (err) => done(err));
      req.on("close", () => done(finished() ?? (replies.length ? null : new Error(`${method}: the stream closed without a reply`))));
      req.end(grpcFrame(message));
    });
  }

  /** A long-lived stream (watch): `onMessage` gets each message in order. */
  stream(method: string, first: Uint8Array, onMessage: (m: Uint8Array) => void): GrpcStream {
    let cancelled = false;
    let req: http2.ClientHttp2Stream | null = null;
    let resolveClosed!: (why: string) => void;
    const closed = new Promise<string>((r) => (resolveClosed = r));
    let ended = false;
    const end = (why: string) => {
      if (ended) return;
      ended = true;
      resolveClosed(cancelled ? "cancelled" : why);
    };
    try {
      req = this.connection().request({ ":method": "POST", ":path": method, "content-type": "application/grpc", te: "trailers" });
    } catch (err) {
      this.session = null;
      end(`could not open ${method}: ${(err as Error).message}`);
    }
    if (req) {
      const messages = new GrpcMessages();
      let why = "";
      req.on("trailers", (h) => (why = h["grpc-message"] ? decodeURIComponent(String(h["grpc-message"])) : `gRPC status ${h["grpc-status"]}`));
      req.on("data", (chunk: Uint8Array) => {
        try {
          for (const m of messages.push(chunk)) onMessage(m);
        } catch (err) {
          end(`${method}: ${(err as Error).message}`);
          req!.close(http2.constants.NGHTTP2_CANCEL);
        }
      });
      req.on("end", () => end(`the ${method} stream ended${why ? `: ${why}` : ""}`));
      req.on("error", (err) => end(`the ${method} stream was lost: ${err.message}`));
      req.on("close", () => end(`the ${method} stream closed`));
      req.write(grpcFrame(first));
    }
    return {
      send: (m) => {
        if (!ended) req?.write(grpcFrame(m));
      },
      cancel: () => {
        cancelled = true;
        req?.close(http2.constants.NGHTTP2_CANCEL);
        end("cancelled");
      },
      closed,
    };
  }
}
