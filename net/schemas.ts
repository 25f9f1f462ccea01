// The shape of every message body (W1, W2, R5), checked where a message
// arrives, before any handler sees it: a handler is only ever called with
// the types messages.ts declares. A body that does not fit gets an
// INVALID_ARGUMENT reply naming the field (a malformed notify closes the
// connection). Fields not listed are ignored, so a newer peer may add some.
import type { NotifyType, RequestType } from "./messages";

type Check = (v: unknown) => boolean;

interface Field {
  check: Check;
  what: string;
  optional?: boolean;
}

type Shape = Record<string, Field>;

const MAX_STRING = 4096;

const str: Field = { check: (v) => typeof v === "string" && v.length <= MAX_STRING, what: "a string" };
const count: Field = { check: (v) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0, what: "a whole number >= 0" };
const bool: Field = { check: (v) => typeof v === "boolean", what: "true or false" };
const bytes: Field = { check: (v) => v instanceof Uint8Array, what: "bytes" };
const opt = (f: Field): Field => ({ ...f, optional: true });
const listOf = (f: Field): Field => ({ check: (v) => Array.isArray(v) && v.every(f.check), what: `a list of ${f.what}` });
const object = (shape: Shape): Field => {
  const fields = compile(shape);
  return { check: (v) => problem(fields, v) === null, what: `{ ${Object.keys(shape).join(", ")} }` };
};

const replicaRef = object({ id: str, addr: str, rack: str });
const chunkReport = object({ handle: count, version: count, size: count });

const REQUESTS: { [T in RequestType]: Shape } = {
  hello: { proto: count, role: str, name: str },
  auth: { mac: bytes, nonce: bytes },
  mkdir: { path: str, parents: bool, noTrash: opt(bool) },
  create: { path: str, replication: opt(count), parents: bool, policyOf: opt(str) },
  ls: { path: str },
  stat: { path: str },
  mv: { src: str, dst: str, overwrite: bool },
  rm: { path: str, recursive: bool },
  undelete: { path: str },
  locate: { path: str, index: count, count: count },
  lease: { path: str, index: count, renew: opt(bool) },
  complete: { path: str, size: count },
  appendLease: { path: str, full: opt(count), renew: opt(bool) },
  cluster: {},
  fsck: { path: str },
  setrep: { path: str, replication: count },
  drain: { server: str, cancel: opt(bool) },
  rebalance: { thresholdPct: count, dryRun: opt(bool), status: opt(bool) },
  snapshot: { src: str, dst: str },
  events: { afterSeq: count },
  checkpoint: { seq: opt(count), offset: count },
  register: { id: str, addr: str, rack: str, capacityBytes: count, usedBytes: count, chunks: listOf(chunkReport) },
  heartbeat: { usedBytes: count, capacityBytes: count, chunks: count, extend: listOf(count), sizes: listOf(chunkReport), listed: opt(listOf(chunkReport)), io: opt(object({ read: count, written: count })) },
  corrupt: { handle: count, reason: str, writeOnly: opt(bool) },
  createChunk: { handle: count, version: count },
  setVersion: { handle: count, version: count, lease: opt(object({ leaseMs: count, secondaries: listOf(replicaRef), token: bytes })) },
  revokeLease: { handle: count },
  copyChunk: { from: count, to: count, version: count },
  cloneChunk: { handle: count, version: count, from: str, bytesPerSec: count, minSize: opt(count) },
  push: { dataId: str, size: count, chain: listOf(str), crc: count, handle: opt(count) },
  read: { handle: count, version: count, offset: count, length: count },
  write: { handle: count, version: count, offset: count, dataId: str, size: count },
  append: { handle: count, version: count, dataId: str, size: count, data: opt(bytes), crc: opt(count) },
  applyWrite: {
    handle: count,
    version: count,
    offset: count,
    dataId: str,
    size: count,
    serial: count,
    zeros: opt(bool),
    data: opt(bytes),
    crc: opt(count),
    lease: object({ primary: str, secondaries: listOf(str), token: bytes }),
  },
};

const NOTIFIES: { [T in NotifyType]: Shape } = {
  pushData: { dataId: str, data: bytes },
  pushAhead: { dataId: str, size: count, chain: listOf(str), crc: count, handle: opt(count), data: bytes },
  progress: {},
};

/** A shape as a list of its fields, made once: checking a body allocates nothing. */
type CompiledShape = readonly (readonly [string, Field])[];

function compile(shape: Shape): CompiledShape {
  return Object.entries(shape);
}

function problem(fields: CompiledShape, body: unknown): string | null {
  if (typeof body !== "object" || body === null || Array.isArray(body) || body instanceof Uint8Array) return "the body is not a map";
  const b = body as Record<string, unknown>;
  for (let i = 0; i < fields.length; i++) {
    const [name, f] = fields[i]!;
    const v = b[name];
    if ((v === undefined || v === null) && f.optional) continue;
    if (!f.check(v)) return `${name} must be ${f.what}`;
  }
  return null;
}

const REQUEST_FIELDS = new Map<string, CompiledShape>(Object.entries(REQUESTS).map(([t, shape]) => [t, compile(shape)]));
const NOTIFY_FIELDS = new Map<string, CompiledShape>(Object.entries(NOTIFIES).map(([t, shape]) => [t, compile(shape)]));

/** What is wrong with a request body, or null when it has the declared shape. */
export function requestProblem(type: RequestType, body: unknown): string | null {
  return problem(REQUEST_FIELDS.get(type)!, body);
}

/** What is wrong with a notify body, or null. */
export function notifyProblem(type: NotifyType, body: unknown): string | null {
  return problem(NOTIFY_FIELDS.get(type)!, body);
}
