// What the master's request families (namespace-requests.ts,
// chunk-requests.ts, chunkserver-requests.ts) share: the state, the log, the
// locks and each other. The Master (server.ts) provides it.
import type { ConsolaInstance } from "consola";
import type { Leadership, MasterRole } from "../../net/messages";
import type { ChunkRequests } from "./chunk-requests";
import type { ChunkServerRequests } from "./chunkserver-requests";
import type { LeaseTable } from "./leases";
import type { LockMode } from "./locks";
import type { NamespaceRequests } from "./namespace-requests";
import type { Repairs } from "./repairs";
import type { MasterConfig } from "./server";
import type { ServerRegistry } from "./servers";
import type { MasterState, Op } from "./state";
import type { StatusHistory } from "./status";

export interface MasterContext {
  readonly cfg: MasterConfig;
  readonly log: ConsolaInstance;
  /** Replaced when the state is rebuilt (recovery, HA): read it each time. */
  readonly state: MasterState;
  readonly registry: ServerRegistry;
  readonly leases: LeaseTable;
  readonly repairs: Repairs;
  readonly history: StatusHistory;
  /** Whether this master acts as the leader: always without HA. */
  readonly leads: boolean;
  readonly port: number;
  readonly startedAtMs: number;
  /** Applies a change, waits until it is durable (local log or etcd), then acts on its consequences. */
  commit(op: Op): Promise<void>;
  /** Runs `fn` with no other holder of `key` running at the same time. */
  locked<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /** Runs `fn` holding namespace locks (M2) on `paths` (and read locks on their ancestors). */
  withPaths<T>(paths: string[], mode: LockMode, fn: () => Promise<T>): Promise<T>;
  leadership(): Leadership;
  role(address: string): MasterRole;
  readonly namespaceRequests: NamespaceRequests;
  readonly chunkRequests: ChunkRequests;
  readonly serverRequests: ChunkServerRequests;
}
