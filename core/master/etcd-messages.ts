// etcd v3's gRPC messages that the HA master uses, in protobuf (field
// numbers from etcd's api/etcdserverpb/rpc.proto and mvccpb/kv.proto):
// requests encoded, replies decoded. Pure functions; the transport is
// etcd-grpc.ts and the client etcd-client.ts.
import type { KeyValue, TxnCompare, TxnOp, TxnResult, WatchEvent } from "./etcd-client";
import { ProtoReader, ProtoWriter } from "./protobuf";

/** etcd's service methods, as gRPC paths. */
export const METHOD = {
  range: "/etcdserverpb.KV/Range",
  put: "/etcdserverpb.KV/Put",
  deleteRange: "/etcdserverpb.KV/DeleteRange",
  txn: "/etcdserverpb.KV/Txn",
  leaseGrant: "/etcdserverpb.Lease/LeaseGrant",
  leaseRevoke: "/etcdserverpb.Lease/LeaseRevoke",
  leaseKeepAlive: "/etcdserverpb.Lease/LeaseKeepAlive",
  watch: "/etcdserverpb.Watch/Watch",
} as const;

const SORT_DESCEND = 2; // RangeRequest.SortOrder
const SORT_BY_KEY = 0; // RangeRequest.SortTarget
const COMPARE_EQUAL = 0; // Compare.CompareResult
const COMPARE_CREATE = 1; // Compare.CompareTarget
const EVENT_DELETE = 1; // mvccpb.Event.EventType

export interface RangeOptions {
  limit?: number;
  keysOnly?: boolean;
  descending?: boolean;
}

/** A lease ID as our API carries it (decimal string) to the int64 etcd wants. */
function leaseId(id: string | undefined): bigint {
  return id ? BigInt(id) : 0n;
}

export function rangeRequest(key: string, rangeEnd: string | undefined, opts: RangeOptions): ProtoWriter {
  const w = new ProtoWriter().bytes(1, key, true);
  if (rangeEnd !== undefined) w.bytes(2, rangeEnd);
  if (opts.limit) w.int(3, opts.limit);
  if (opts.descending) w.int(5, SORT_DESCEND).int(6, SORT_BY_KEY);
  return w.bool(8, opts.keysOnly);
}

export function putRequest(key: string, value: Uint8Array | string, lease?: string): ProtoWriter {
  return new ProtoWriter().bytes(1, key, true).bytes(2, value).int(3, leaseId(lease));
}

export function deleteRangeRequest(key: string, rangeEnd: string): ProtoWriter {
  return new ProtoWriter().bytes(1, key, true).bytes(2, rangeEnd);
}

function requestOp(o: TxnOp): ProtoWriter {
  if ("put" in o) return new ProtoWriter().message(2, putRequest(o.put.key, o.put.value, o.put.lease));
  if ("range" in o) return new ProtoWriter().message(1, rangeRequest(o.range.key, o.range.rangeEnd, o.range));
  return new ProtoWriter().message(3, deleteRangeRequest(o.deleteRange.key, o.deleteRange.rangeEnd));
}

export function txnRequest(compare: TxnCompare[], success: TxnOp[], failure: TxnOp[]): ProtoWriter {
  const w = new ProtoWriter();
  for (const c of compare) {
    // create_revision is a oneof member: written even when 0 ("the key does not exist").
    w.message(1, new ProtoWriter().int(1, COMPARE_EQUAL).int(2, COMPARE_CREATE).bytes(3, c.key, true).int(5, c.createRevision, true));
  }
  for (const o of success) w.message(2, requestOp(o));
  for (const o of failure) w.message(3, requestOp(o));
  return w;
}

export function leaseGrantRequest(ttlSec: number): ProtoWriter {
  return new ProtoWriter().int(1, ttlSec);
}

/** LeaseRevokeRequest and LeaseKeepAliveRequest: the lease's ID alone. */
export function leaseIdRequest(id: string): ProtoWriter {
  return new ProtoWriter().int(1, leaseId(id));
}

export function watchCreateRequest(key: string, rangeEnd: string, fromRevision: number): ProtoWriter {
  return new ProtoWriter().message(1, new ProtoWriter().bytes(1, key, true).bytes(2, rangeEnd).int(3, fromRevision));
}

// ---- replies ----

const text = new TextDecoder();

/** The last value of field `field` of a message, read by `read` (`absent` if it has none), every other field skipped. */
function oneField<T>(bytes: Uint8Array, field: number, read: (r: ProtoReader) => T, absent: T): T {
  const r = new ProtoReader(bytes);
  let value = absent;
  for (let f = r.next(); f !== 0; f = r.next()) {
    if (f === field) value = read(r);
    else r.skip();
  }
  return value;
}

/** ResponseHeader.revision (field 3), the store's revision when the request was served. */
function headerRevision(bytes: Uint8Array): number {
  return oneField(bytes, 3, (r) => r.int(), 0);
}

function keyValue(bytes: Uint8Array): KeyValue {
  const r = new ProtoReader(bytes);
  const kv: KeyValue = { key: "", value: new Uint8Array(0), createRevision: 0, modRevision: 0, lease: "0" };
  for (let f = r.next(); f !== 0; f = r.next()) {
    if (f === 1) kv.key = text.decode(r.bytes());
    else if (f === 2) kv.createRevision = r.int();
    else if (f === 3) kv.modRevision = r.int();
    else if (f === 5) kv.value = r.bytes().slice(); // a copy: the reply's buffer is not kept
    else if (f === 6) kv.lease = String(r.int64());
    else r.skip();
  }
  return kv;
}

export function rangeResponse(bytes: Uint8Array): { kvs: KeyValue[]; revision: number; more: boolean } {
  const r = new ProtoReader(bytes);
  const out = { kvs: [] as KeyValue[], revision: 0, more: false };
  for (let f = r.next(); f !== 0; f = r.next()) {
    if (f === 1) out.revision = headerRevision(r.bytes());
    else if (f === 2) out.kvs.push(keyValue(r.bytes()));
    else if (f === 3) out.more = r.bool();
    else r.skip();
  }
  return out;
}

/** PutResponse: the revision it made (its header, field 1). */
export function putResponse(bytes: Uint8Array): number {
  return oneField(bytes, 1, (r) => headerRevision(r.bytes()), 0);
}

/** DeleteRangeResponse: how many keys it deleted (field 2). */
export function deleteRangeResponse(bytes: Uint8Array): number {
  return oneField(bytes, 2, (r) => r.int(), 0);
}

export function txnResponse(bytes: Uint8Array): TxnResult {
  const r = new ProtoReader(bytes);
  const out: TxnResult = { succeeded: false, revision: 0, ranges: [] };
  for (let f = r.next(); f !== 0; f = r.next()) {
    if (f === 1) out.revision = headerRevision(r.bytes());
    else if (f === 2) out.succeeded = r.bool();
    else if (f === 3) {
      // ResponseOp: what a range read (response_range = 1); puts and deletions read nothing.
      out.ranges.push(oneField(r.bytes(), 1, (op) => rangeResponse(op.bytes()).kvs, [] as KeyValue[]));
    } else r.skip();
  }
  return out;
}

/** LeaseGrantResponse: the lease's ID, or etcd's error. */
export function leaseGrantResponse(bytes: Uint8Array): { id: string; error: string } {
  const r = new ProtoReader(bytes);
  const out = { id: "0", error: "" };
  for (let f = r.next(); f !== 0; f = r.next()) {
    if (f === 2) out.id = String(r.int64());
    else if (f === 4) out.error = r.string();
    else r.skip();
  }
  return out;
}

/** LeaseKeepAliveResponse: the seconds the lease has left (TTL, field 3; 0: it has expired). */
export function leaseKeepAliveResponse(bytes: Uint8Array): number {
  return oneField(bytes, 3, (r) => r.int(), 0);
}

export interface WatchReply {
  revision: number;
  created: boolean;
  canceled: boolean;
  cancelReason: string;
  events: WatchEvent[];
}

export function watchResponse(bytes: Uint8Array): WatchReply {
  const r = new ProtoReader(bytes);
  const out: WatchReply = { revision: 0, created: false, canceled: false, cancelReason: "", events: [] };
  for (let f = r.next(); f !== 0; f = r.next()) {
    if (f === 1) out.revision = headerRevision(r.bytes());
    else if (f === 3) out.created = r.bool();
    else if (f === 4) out.canceled = r.bool();
    else if (f === 6) out.cancelReason = r.string();
    else if (f === 11) {
      const e = new ProtoReader(r.bytes());
      let type: WatchEvent["type"] = "put";
      let kv: KeyValue | null = null;
      for (let g = e.next(); g !== 0; g = e.next()) {
        if (g === 1) type = e.int() === EVENT_DELETE ? "delete" : "put";
        else if (g === 2) kv = keyValue(e.bytes());
        else e.skip();
      }
      if (kv) out.events.push({ type, kv });
    } else r.skip();
  }
  return out;
}
