// Writing a file (D1, D2, L2): the input is cut into pieces that never cross a
// chunk boundary. For each piece the client gets the chunk's lease, pushes the
// bytes along the replica chain nearest-first (each server forwards while it
// receives), then asks the primary to apply them at the piece's offset. A few
// pieces are in flight at once; write requests go out in file order.
import { randomBytes } from "node:crypto";
import { GfsError } from "../../net/errors";
import type { LeaseGrant, ReplicaRef } from "../../net/messages";
import type { Peer } from "../../net/peer";
import { asGfsError, sleep, type GfsClient } from "./client";
import { IssueOrder, type Turn } from "./issue-order";

const PIECE_BYTES = 4 * 1024 * 1024;
const PUSH_PART_BYTES = 512 * 1024;
const IN_FLIGHT = 4;

export async function writeChunks(client: GfsClient, path: string, source: AsyncIterable<Uint8Array>): Promise<number> {
  const { chunkSize } = await client.locate(path, 0);
  let offset = 0;
  const inflight = new Set<Promise<void>>();
  let failure: unknown = null;
  const order = new IssueOrder();
  // Chunks are created in order: chunk i's first lease waits for chunk i-1's.
  let chunkReady: Promise<unknown> = Promise.resolve();
  let readyIndex = -1;
  // Piece buffers are reused once stored on every replica: a long put then
  // cycles through a handful of buffers instead of leaving garbage behind.
  const spare: Uint8Array[] = [];
  const allocate = (n: number) => {
    const i = spare.findIndex((b) => b.byteLength === n);
    return i >= 0 ? spare.splice(i, 1)[0]! : Buffer.allocUnsafeSlow(n);
  };
  for await (const piece of cutPieces(source, chunkSize, PIECE_BYTES, allocate)) {
    if (failure) break;
    const index = Math.floor(offset / chunkSize);
    const within = offset % chunkSize;
    if (index !== readyIndex) {
      chunkReady = chunkReady.then(() => client.lease(path, index, false)).catch(() => {});
      readyIndex = index;
    }
    const ready = chunkReady;
    const turn = order.take();
    const p = ready
      .then(() => writePiece(client, path, index, within, piece, turn))
      .then(
        () => {
          if (spare.length <= IN_FLIGHT && piece.byteOffset === 0 && piece.byteLength === piece.buffer.byteLength) spare.push(piece);
        },
        (err) => {
          failure ??= err;
        },
      );
    inflight.add(p);
    p.finally(() => inflight.delete(p));
    offset += piece.byteLength;
    while (inflight.size >= IN_FLIGHT) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  if (failure) throw failure;
  return offset;
}

/** Re-cuts a byte stream into pieces of at most `pieceBytes` that stay inside one chunk. */
export async function* cutPieces(
  source: AsyncIterable<Uint8Array>,
  chunkSize: number,
  pieceBytes: number,
  allocate: (n: number) => Uint8Array = (n) => new Uint8Array(n),
): AsyncGenerator<Uint8Array> {
  let pos = 0;
  let buf: Uint8Array | null = null;
  let filled = 0;
  for await (const input of source) {
    let at = 0;
    while (at < input.byteLength) {
      if (!buf) {
        buf = allocate(Math.min(pieceBytes, chunkSize - (pos % chunkSize)));
        filled = 0;
      }
      const take = Math.min(buf.byteLength - filled, input.byteLength - at);
      buf.set(input.subarray(at, at + take), filled);
      filled += take;
      at += take;
      if (filled === buf.byteLength) {
        yield buf;
        pos += buf.byteLength;
        buf = null;
      }
    }
  }
  if (buf && filled > 0) yield buf.subarray(0, filled);
}

async function writePiece(client: GfsClient, path: string, index: number, within: number, data: Uint8Array, turn: Turn): Promise<void> {
  const retrier = client.retrier();
  let renew = false;
  let delayMs = 50;
  try {
    for (;;) {
      try {
        const grant = await client.lease(path, index, renew);
        const dataId = randomBytes(12).toString("base64url");
        await pushAlongChain(client, grant, dataId, data);
        const primary = await client.pool.get(grant.primary.addr);
        await turn.wait();
        const reply = primary.call("write", { handle: grant.handle, version: grant.version, offset: within, dataId, size: data.byteLength });
        turn.sent();
        await reply;
        return;
      } catch (err) {
        turn.pass(); // later pieces go on; this one retries out of order
        const e = asGfsError(err);
        if (!e.retryable) throw e;
        if (!retrier.retry(`writing ${path} chunk ${index}: ${e.message}`, delayMs)) throw new GfsError(e.code, `writing ${path} chunk ${index}: ${e.message}`);
        renew = true;
        await sleep(delayMs);
        delayMs = Math.min(delayMs * 2, 2_000);
      }
    }
  } finally {
    turn.pass();
  }
}

/** Pushes `data` to the nearest replica, which forwards it down the chain; resolves once every replica has it. */
export async function pushAlongChain(client: GfsClient, grant: LeaseGrant, dataId: string, data: Uint8Array): Promise<void> {
  const { head, rest } = await chainOf(client, grant);
  const reply = head.call("push", { dataId, size: data.byteLength, chain: rest, crc: await client.crc32c(data), handle: grant.handle });
  reply.catch(() => {});
  await sendPieces(head, dataId, data, 0);
  await reply;
}

/**
 * Starts a push nobody waits on (record append): the request that names
 * `dataId` may follow at once, and fails if the data never reaches a replica.
 * Resolves once the bytes are handed to the connection; `data` must not change.
 * `knownCrc` is the data's CRC32C when the caller already has it.
 */
export async function pushAhead(client: GfsClient, grant: LeaseGrant, dataId: string, data: Uint8Array, knownCrc?: number): Promise<void> {
  const crc = knownCrc ?? (await client.crc32c(data));
  const { head, rest } = await chainOf(client, grant);
  const first = Math.min(data.byteLength, PUSH_PART_BYTES);
  head.notifyData("pushAhead", { dataId, size: data.byteLength, chain: rest, crc, handle: grant.handle }, data.subarray(0, first));
  await sendPieces(head, dataId, data, first);
}

/** The connection to the nearest replica of a grant, and the addresses it forwards to, in order. */
async function chainOf(client: GfsClient, grant: LeaseGrant): Promise<{ head: Peer; rest: string[] }> {
  const chain: ReplicaRef[] = client.nearest([grant.primary, ...grant.secondaries]);
  return { head: await client.pool.get(chain[0]!.addr), rest: chain.slice(1).map((r) => r.addr) };
}

/** Sends `data` from `from` on as pushData pieces, waiting while the connection is congested. */
async function sendPieces(head: Peer, dataId: string, data: Uint8Array, from: number): Promise<void> {
  for (let at = from; at < data.byteLength; at += PUSH_PART_BYTES) {
    await head.writable();
    head.notifyData("pushData", { dataId }, data.subarray(at, Math.min(at + PUSH_PART_BYTES, data.byteLength)));
  }
}
