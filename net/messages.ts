// Every message shape on the wire, shared by both ends. See net/PROTOCOL.md.
//
// Envelope (one msgpack map per frame):
//   request   { i: id > 0, t: type, b: body }   expects one reply with the same i
//   notify    { i: 0,      t: type, b: body }   no reply
//   reply     { i: id, r: body }  or  { i: id, e: { code, message } }

import type { ErrorCode } from "./errors";

export const PROTOCOL_VERSION = 4;

/**
 * A record append (one batch of records) this small travels inline in its
 * request (`append.data`) and the primary's `applyWrite`s instead of being
 * pushed down the chain (docs/ARCHITECTURE.md: where messages cost more than
 * the primary's outgoing bytes).
 */
export const INLINE_APPEND_BYTES = 128 * 1024;

/** A chunk handle: unique, never reused; 64-bit on the wire, allocated below 2^53. */
export type Handle = number;

export interface ReplicaRef {
  /** Stable id of the chunk server (persisted in its data directory). */
  id: string;
  /** HOST:PORT clients and peers connect to. */
  addr: string;
  rack: string;
}

export interface ChunkLocation {
  index: number;
  handle: Handle;
  version: number;
  /** Bytes in the chunk as far as the master knows (exact for closed files). */
  size: number;
  replicas: ReplicaRef[];
  /** Address of the replica holding a live lease, if any (stat only). */
  primary?: string;
}

export interface DirEntry {
  name: string;
  type: "file" | "dir";
  size: number;
  mtimeMs: number;
  replication: number;
  chunks: number;
}

export interface StatReply extends DirEntry {
  path: string;
  chunkSize: number;
  chunkList: ChunkLocation[];
}

export interface LeaseGrant {
  handle: Handle;
  version: number;
  index: number;
  primary: ReplicaRef;
  secondaries: ReplicaRef[];
  /** Lease length as the master granted it. */
  leaseMs: number;
  chunkSize: number;
  /** Set when this chunk was just created on fewer servers than the file's target (there were no more): the target. */
  createdShort?: number;
}

/** A lease as the primary shows it to its secondaries: the master's token over these terms. */
export interface LeaseProof {
  primary: string;
  secondaries: string[];
  token: Uint8Array;
}

export interface ChunkReport {
  handle: Handle;
  version: number;
  size: number;
}

export interface RebalanceReply {
  active: boolean;
  thresholdPct: number;
  moved: number;
  movedBytes: number;
  underWay: number;
  /** The largest distance of a server's disk use from the average, in percentage points. */
  imbalancePct: number;
  /** The next moves (at most 1000). */
  plan: { chunk: string; from: string; to: string }[];
}

/** One event a daemon logged (gfs events, the status page). */
export interface EventLine {
  seq: number;
  timeMs: number;
  level: string;
  tag: string;
  text: string;
}

/** One thing wrong, as `gfs fsck` lists it. */
export interface FsckProblem {
  path: string;
  /** The chunk's index in the file, and its handle. */
  index: number;
  chunk: string;
  problem: string;
}

export interface FsckReport {
  healthy: boolean;
  files: number;
  directories: number;
  chunks: number;
  bytes: number;
  underReplicated: number;
  overReplicated: number;
  /** Chunks with no live replica. */
  missing: number;
  /** Chunks whose only replicas are damaged. */
  corrupt: number;
  /** Stale or surplus replicas waiting to be deleted. */
  stale: number;
  /** Chunks with all replicas in one rack while there are others. */
  misplaced: number;
  /** Chunks being copied now. */
  repairing: number;
  problems: FsckProblem[];
  /** Problems beyond the listed ones (counted above). */
  problemsOmitted: number;
}

export interface ServerStatus {
  id: string;
  addr: string;
  rack: string;
  capacityBytes: number;
  usedBytes: number;
  chunks: number;
  alive: boolean;
  lastHeartbeatMsAgo: number;
  /** When the master declared it lost (ms since the epoch), while it is. */
  lostAtMs?: number;
  /** Being drained (gfs drain). */
  draining?: boolean;
}

// ---- handshake (first exchange on every connection) ----
export interface HelloReq { proto: number; role: Role; name: string }
export interface HelloRep { proto: number; challenge?: Uint8Array }
export interface AuthReq { mac: Uint8Array; nonce: Uint8Array }
export interface AuthRep { mac: Uint8Array }
export type Role = "client" | "chunkserver" | "master";

/**
 * What a master says of itself to chunk servers (HA, M16). `leading` false:
 * a standby, whose chunk commands, deletions and lease extensions a chunk
 * server ignores; `epoch`: the leader's term, which only grows. Absent: a
 * single master, which always leads.
 */
export interface Leadership {
  leading?: boolean;
  epoch?: number;
}

/** A master's role as `gfs cluster` and the status page show it. */
export interface MasterRole {
  address: string;
  role: "single" | "leader" | "standby";
  epoch: number;
  /** How far behind the replicated log this master may be (0 for the leader and a single master). */
  lagMs: number;
  /** The leader this master knows of (HA). */
  leader?: string;
  /** The last change this master has applied. */
  appliedOp?: number;
}

/** Request types with their body and reply shapes. */
export interface Requests {
  hello: [HelloReq, HelloRep];
  auth: [AuthReq, AuthRep];

  // client -> master
  /** `noTrash`: removals below this directory skip the trash (set on an existing directory too, with `parents`). */
  mkdir: [{ path: string; parents: boolean; noTrash?: boolean }, Record<string, never>];
  /** Without `replication`, the file gets its directory's (setrep), else the cluster's; `policyOf` names the path whose directory decides (a put's temporary file). */
  create: [{ path: string; replication?: number; parents: boolean; policyOf?: string }, Record<string, never>];
  ls: [{ path: string }, { entries: DirEntry[]; isFile: boolean }];
  stat: [{ path: string }, StatReply];
  mv: [{ src: string; dst: string; overwrite: boolean }, Record<string, never>];
  /** Moves `path` to the trash (`trashedAs` names where), or erases it at once (trash or upload paths, or no trash TTL). */
  rm: [{ path: string; recursive: boolean }, { trashedAs?: string }];
  /** Brings back the newest copy of `path` from the trash. */
  undelete: [{ path: string }, { from: string }];
  locate: [{ path: string; index: number; count: number }, { chunkSize: number; size: number; chunkCount: number; chunks: ChunkLocation[] }];
  lease: [{ path: string; index: number; renew?: boolean }, LeaseGrant];
  complete: [{ path: string; size: number }, Record<string, never>];
  /** Lease on the file's last chunk for appending; `full` names a chunk found full, to move past it. */
  appendLease: [{ path: string; full?: number; renew?: boolean }, LeaseGrant];
  cluster: [Record<string, never>, { chunkSize: number; replication: number; servers: ServerStatus[]; master?: MasterRole }];
  /** The replication target of a file, or of a directory: for files created below it and every file below it now. */
  setrep: [{ path: string; replication: number }, { files: number }];
  /**
   * Drain a chunk server (`server`: its address or id): its replicas are copied elsewhere while it serves reads;
   * `cancel` ends that. The reply counts the chunks that still need it (0: it can be stopped).
   */
  drain: [{ server: string; cancel?: boolean }, { id: string; addr: string; draining: boolean; chunksDependingOnIt: number }];
  /**
   * Rebalancing (M12): with neither flag, start moving replicas until every server's disk use is within
   * `thresholdPct` points of the average; `dryRun` only plans; `status` only reports.
   */
  rebalance: [{ thresholdPct: number; dryRun?: boolean; status?: boolean }, RebalanceReply];
  /** The integrity audit of everything below `path` (core/master/fsck.ts). */
  fsck: [{ path: string }, FsckReport];
  snapshot: [{ src: string; dst: string }, { files: number; chunks: number; revokedLeases: number }];
  /** The master's recent events (its log lines at info and above) after `afterSeq`, oldest first. */
  events: [{ afterSeq: number }, { events: EventLine[] }];

  // master -> master (HA)
  /**
   * A slice of this master's newest checkpoint, for a master that lacks log batches etcd no longer keeps.
   * `seq` names the checkpoint being fetched (absent: the newest); `lastOp` is the last change it holds.
   */
  checkpoint: [{ seq?: number; offset: number }, { seq: number; size: number; lastOp: number; data: Uint8Array }];

  // chunk server -> master
  /** `tokenKey`: the key lease tokens are signed with, sent only when the cluster has no secret to derive it from. */
  register: [{ id: string; addr: string; rack: string; capacityBytes: number; usedBytes: number; chunks: ChunkReport[] }, { chunkSize: number; heartbeatMs: number; discard: Handle[]; tokenKey?: Uint8Array } & Leadership];
  /** `listed`: a slice of the server's chunks, going round them all; the master answers those it no longer wants in `discard`. */
  heartbeat: [{ usedBytes: number; capacityBytes: number; chunks: number; extend: Handle[]; sizes: ChunkReport[]; listed?: ChunkReport[]; io?: { read: number; written: number } }, { discard: Handle[]; extended: Handle[]; leaseMs: number } & Leadership];
  /** `writeOnly`: a write failed and was undone; the replica's bytes are intact, it takes no more writes. */
  corrupt: [{ handle: Handle; reason: string; writeOnly?: boolean }, Record<string, never>];

  // master -> chunk server
  createChunk: [{ handle: Handle; version: number }, Record<string, never>];
  /** With `lease`, this server becomes the chunk's primary; `token` is the master's signature of the lease (core/lease-tokens.ts). */
  setVersion: [{ handle: Handle; version: number; lease?: { leaseMs: number; secondaries: ReplicaRef[]; token: Uint8Array } }, { size: number }];
  /** Ends this server's lease on a chunk (snapshot). */
  revokeLease: [{ handle: Handle }, Record<string, never>];
  /** Copy-on-write (M15): copy local chunk `from` to a new chunk `to` at `version`. */
  copyChunk: [{ from: Handle; to: Handle; version: number }, { size: number }];
  /**
   * Re-replication (M11): make a replica of `handle` at `version` here by reading it from the
   * chunk server at `from` (server to server), at most `bytesPerSec` (0: unpaced).
   */
  /** `minSize`: the bytes the master knows were acknowledged; a shorter source fails the copy. */
  cloneChunk: [{ handle: Handle; version: number; from: string; bytesPerSec: number; minSize?: number }, { size: number }];

  // client -> chunk server, chunk server -> chunk server
  /**
   * `crc`: CRC32C of the whole data, checked by every replica before it writes the bytes.
   * `handle`: the chunk the data is for; its primary keeps the lease while the data is on its way.
   */
  push: [{ dataId: string; size: number; chain: string[]; crc: number; handle?: Handle }, Record<string, never>];
  /** `crc`: CRC-32 (IEEE) of `data` (core/checksums.ts transitCrc), which the reader checks: bytes damaged on the way are never returned. */
  read: [{ handle: Handle; version: number; offset: number; length: number }, { data: Uint8Array; chunkBytes: number; crc: number }];
  write: [{ handle: Handle; version: number; offset: number; dataId: string; size: number }, { chunkBytes: number }];
  /**
   * Record append (D3): the primary picks the offset; CHUNK_FULL means the
   * chunk was padded, go to the next. A small record may travel inline as
   * `data` (sent as the frame's tail) with its CRC32C, instead of being
   * pushed ahead under `dataId`.
   */
  append: [{ handle: Handle; version: number; dataId: string; size: number; data?: Uint8Array; crc?: number }, { offset: number }];
  /**
   * Primary -> secondary. `lease` proves the sender holds the chunk's current
   * lease: refused without it. `zeros` writes `size` zero bytes (padding)
   * instead of pushed data; `data` and `crc` are the bytes of an inline
   * append (sent as the frame's tail).
   */
  applyWrite: [{ handle: Handle; version: number; offset: number; dataId: string; size: number; serial: number; zeros?: boolean; data?: Uint8Array; crc?: number; lease: LeaseProof }, { chunkBytes: number }];
}

/** One-way messages. */
export interface Notifies {
  /** A piece of pushed data; pieces of one push arrive in order on one connection. */
  pushData: { dataId: string; data: Uint8Array };
  /**
   * A push nobody waits on (record append): like `push`, with its first piece
   * inline and no reply; the mutation that names `dataId` fails if it never
   * arrives. Forwarded down `chain` the same way.
   */
  pushAhead: { dataId: string; size: number; chain: string[]; crc: number; handle?: Handle; data: Uint8Array };
  /** A keep-alive on a busy connection: the sender is alive, however slowly data moves (net/peer.ts). */
  progress: Record<string, never>;
}

export type RequestType = keyof Requests;
export type NotifyType = keyof Notifies;
export type ReqBody<T extends RequestType> = Requests[T][0];
export type RepBody<T extends RequestType> = Requests[T][1];

export interface RequestEnvelope { i: number; t: string; b: unknown }
export interface ReplyEnvelope { i: number; r?: unknown; e?: { code: ErrorCode; message: string; leader?: string } }

export const REQUEST_TYPES: ReadonlySet<string> = new Set<RequestType>([
  "hello", "auth", "mkdir", "create", "ls", "stat", "mv", "rm", "undelete", "locate", "lease", "complete", "appendLease", "cluster", "fsck", "setrep", "drain", "rebalance", "snapshot", "events", "checkpoint",
  "register", "heartbeat", "corrupt", "createChunk", "setVersion", "revokeLease", "copyChunk", "cloneChunk", "push", "read", "write", "append", "applyWrite",
]);
export const NOTIFY_TYPES: ReadonlySet<string> = new Set<NotifyType>(["pushData", "pushAhead", "progress"]);
