// Fuzzing every message handler of both daemons (W2, R5): a master and a
// chunk server run in this process; arbitrary, mutated and well-shaped bodies
// of every request type arrive over real connections from a client, from a
// chunk server and from the master. Every request gets an answer (a reply or
// a typed error, never INTERNAL), memory stays bounded, both daemons keep
// serving, and the master's log replays to the same namespace.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { join } from "node:path";
import { initChecksums } from "../../core/checksums";
import { ChunkServer } from "../../core/chunkserver/server";
import { connect as connectClient, type GfsClient } from "../../core/client";
import { log } from "../../core/log";
import { recover } from "../../core/master/checkpoint";
import { Master } from "../../core/master/server";
import { ErrorCode, GfsError } from "../../net/errors";
import { REQUEST_TYPES, type RequestType } from "../../net/messages";
import { connect, type Peer } from "../../net/peer";
import { tempDir } from "../helpers/cluster";
import { FUZZ_SEED, runs } from "./fuzz-config";

log.level = -999; // thousands of refusals would flood the test output

const CHUNK = 1024 * 1024;
const dir = tempDir("gfs-fuzz-");
let master: Master;
let server: ChunkServer;
let client: GfsClient;
let asClient: Peer; // a client's connection to the master
let asChunkserver: Peer; // a chunk server's connection to the master
let toServerAsClient: Peer; // a client's connection to the chunk server
let toServerAsMaster: Peer; // the master's connection to the chunk server
let fileHandle = 0;
let fileVersion = 0;

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

beforeAll(async () => {
  await initChecksums();
  master = new Master({
    dataDir: join(dir, "master"), listenHost: "127.0.0.1", listenPort: 0, chunkSizeBytes: CHUNK, replication: 1,
    leaseMs: 5_000, heartbeatMs: 200, deadAfterMs: 60_000, secret: null, checkpointBytes: 1 << 30,
  });
  await master.start();
  const masterAddr = `127.0.0.1:${master.port}`;
  server = new ChunkServer({ dataDir: join(dir, "cs"), master: masterAddr, listenHost: "127.0.0.1", listenPort: 0, rack: "r1", bufferBytes: 64 * CHUNK, scrubIntervalMs: 0, scrubBytesPerSec: 0, secret: null });
  await server.start();
  await server.whenRegistered();
  client = connectClient({ master: masterAddr });
  await client.put("/seed", (async function* () {
    yield new Uint8Array(3000).fill(5);
  })());
  const st = await client.stat("/seed");
  fileHandle = st.chunkList[0]!.handle;
  fileVersion = st.chunkList[0]!.version;
  asClient = await connect(masterAddr, "client", "fuzz", {});
  asChunkserver = await connect(masterAddr, "chunkserver", "fuzz-cs", {});
  toServerAsClient = await connect(server.addr, "client", "fuzz", {});
  toServerAsMaster = master.serverRequests.connectionOf(server.id)!;
  expect(toServerAsMaster).toBeDefined();
});

afterAll(async () => {
  if (process.env.GFS_TEST_VERBOSE) console.log("fuzz outcomes", Object.fromEntries(outcomes));
  client?.close();
  for (const p of [asClient, asChunkserver, toServerAsClient]) p?.close("done");
  server?.stop();
  await master?.stop();
});

/** Arbitrary values of the kinds the wire carries, small enough to send many. */
const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.uint8Array({ maxLength: 40 }),
  fc.constantFrom(null, -1, 0, 1, 2 ** 31, 2 ** 53 - 1, 2 ** 64, Number.NaN, 1.5, -0, "", "/", "//", "/a/../b", "\0"),
);

/** A plausible body of each type, for mutation. */
function template(type: RequestType): Record<string, unknown> {
  const h = fileHandle;
  const v = fileVersion;
  const token = new Uint8Array(16);
  const t: Partial<Record<RequestType, Record<string, unknown>>> = {
    mkdir: { path: "/d", parents: true },
    create: { path: "/d/f", replication: 1, parents: true },
    ls: { path: "/" },
    stat: { path: "/seed" },
    mv: { src: "/d/f", dst: "/d/g", overwrite: false },
    rm: { path: "/d/g", recursive: false },
    undelete: { path: "/d/g" },
    locate: { path: "/seed", index: 0, count: 1 },
    lease: { path: "/d/f", index: 0 },
    complete: { path: "/d/f", size: 0 },
    appendLease: { path: "/d/f" },
    cluster: {},
    fsck: { path: "/" },
    setrep: { path: "/d", replication: 2 },
    drain: { server: "fuzz-server", cancel: true },
    snapshot: { src: "/d", dst: "/snap" },
    register: { id: "fuzz-server", addr: "127.0.0.1:1", rack: "r", capacityBytes: 1e9, usedBytes: 0, chunks: [{ handle: h, version: v, size: 3000 }] },
    heartbeat: { usedBytes: 0, capacityBytes: 1e9, chunks: 1, extend: [h], sizes: [{ handle: h, version: v, size: 3000 }], listed: [{ handle: h, version: v, size: 3000 }] },
    corrupt: { handle: h, reason: "fuzz" },
    createChunk: { handle: 1_000_000 + (h % 1000), version: 1 },
    setVersion: { handle: h, version: v, lease: { leaseMs: 1000, secondaries: [], token } },
    revokeLease: { handle: h },
    copyChunk: { from: h, to: 2_000_000, version: v },
    cloneChunk: { handle: 3_000_000 + (h % 1000), version: v, from: "127.0.0.1:1", bytesPerSec: 0 },
    push: { dataId: "fz", size: 10, chain: [], crc: 0 },
    read: { handle: h, version: v, offset: 0, length: 100 },
    write: { handle: h, version: v, offset: 0, dataId: "fz", size: 10 },
    append: { handle: h, version: v, dataId: "fz", size: 10 },
    applyWrite: { handle: h, version: v, offset: 0, dataId: "fz", size: 10, serial: 1, lease: { primary: "x", secondaries: [server.id], token } },
  };
  return { ...(t[type] ?? {}) };
}

const TYPES = [...REQUEST_TYPES].filter((t) => t !== "hello" && t !== "auth") as RequestType[];

/** A body: arbitrary, a template with one field replaced or removed, or a template with extra fields. */
function bodyFor(type: RequestType): fc.Arbitrary<unknown> {
  return fc.oneof(
    anyValue,
    fc.tuple(fc.nat(), anyValue, fc.boolean()).map(([i, v, drop]) => {
      const b = template(type);
      const keys = Object.keys(b);
      if (keys.length === 0) return { extra: v };
      const k = keys[i % keys.length]!;
      if (drop) delete b[k];
      else b[k] = v;
      return b;
    }),
    fc.dictionary(fc.string({ maxLength: 8 }), anyValue, { maxKeys: 4 }).map((extra) => ({ ...extra, ...template(type) })),
  );
}

type Case = { to: Peer; type: RequestType; body: unknown };

/** Outcomes by reply or error code, for the record. */
const outcomes = new Map<string, number>();

/**
 * Sends every case and checks each answer. A request must not close the
 * connection it came on (only a protocol violation may) and must not end in
 * INTERNAL (an unchecked input reaching deep code).
 */
async function fire(cases: Case[], concurrency: number): Promise<string[]> {
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < cases.length && failures.length < 20) {
      const c = cases[next++]!;
      if (c.to.closed) {
        failures.push(`the connection closed before ${c.type} ${safeJson(c.body)}`);
        return;
      }
      try {
        await c.to.call(c.type, c.body as never, 30_000);
        outcomes.set("reply", (outcomes.get("reply") ?? 0) + 1);
      } catch (err) {
        const code = err instanceof GfsError ? err.code : "thrown";
        outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
        const ok = err instanceof GfsError && KNOWN_CODES.has(err.code) && err.code !== ErrorCode.INTERNAL && !(err.code === ErrorCode.UNAVAILABLE && c.to.closed);
        if (!ok) failures.push(`${c.type} ${safeJson(c.body)} -> ${code}: ${(err as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return failures;
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? `<${x.byteLength} bytes>` : typeof x === "number" && !Number.isFinite(x) ? String(x) : x)).slice(0, 300);
  } catch {
    return String(v);
  }
}

describe(`fuzzing message handlers (seed ${FUZZ_SEED})`, () => {
  test("the master answers every request from a client or a chunk server with a reply or a typed error", async () => {
    const rss0 = process.memoryUsage().rss;
    const gen = fc.constantFrom(...TYPES).chain((type) => bodyFor(type).map((body) => ({ type, body })));
    const sample = fc.sample(gen, { numRuns: runs(12_000), seed: FUZZ_SEED });
    const cases: Case[] = sample.map((c, i) => ({ to: i % 3 === 0 ? asChunkserver : asClient, ...c }));
    const failures = await fire(cases, 32);
    expect(failures).toEqual([]);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(256 * 1024 * 1024);
    // Still serving, and what it logged replays to the namespace it holds.
    expect((await client.stat("/seed")).size).toBe(3000);
  }, 300_000);

  test("the chunk server answers every request from a client or its master with a reply or a typed error", async () => {
    const rss0 = process.memoryUsage().rss;
    const gen = fc.constantFrom(...TYPES).chain((type) => bodyFor(type).map((body) => ({ type, body })));
    const sample = fc.sample(gen, { numRuns: runs(12_000), seed: FUZZ_SEED + 1 });
    const cases: Case[] = sample.map((c, i) => ({ to: i % 2 === 0 ? toServerAsMaster : toServerAsClient, ...c }));
    const failures = await fire(cases, 256);
    expect(failures).toEqual([]);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(256 * 1024 * 1024);
    expect(toServerAsClient.closed).toBe(false);
  }, 300_000);

  test("after the fuzzing, the master's log replays to the namespace it serves", async () => {
    const live = { files: master.state.fileCount, dirs: master.state.dirCount, chunks: master.state.chunks.size };
    await master.stop();
    const r = recover(join(dir, "master"), master.state.params, { repairTail: false });
    expect({ files: r.state.fileCount, dirs: r.state.dirCount, chunks: r.state.chunks.size }).toEqual(live);
  }, 60_000);
});
