// The cluster's fixed parameters (chunk size, default replication), recorded
// in the master's data directory at its first start and read back after.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, GfsError } from "../../net/errors";
import type { ClusterParams } from "./state";

export function clusterParamsPath(dataDir: string): string {
  return join(dataDir, "cluster.json");
}

export function readClusterParams(dataDir: string): ClusterParams | null {
  const path = clusterParamsPath(dataDir);
  if (!existsSync(path)) return null;
  const saved = JSON.parse(readFileSync(path, "utf8"));
  if (!Number.isSafeInteger(saved.chunkSizeBytes) || saved.chunkSizeBytes <= 0 || !Number.isSafeInteger(saved.replication)) {
    throw new GfsError(ErrorCode.INTERNAL, `${path} is damaged`);
  }
  return { chunkSizeBytes: saved.chunkSizeBytes, replication: saved.replication };
}

/** The recorded parameters, or `wanted` recorded now if this is the first start. */
export function establishClusterParams(dataDir: string, wanted: ClusterParams): { params: ClusterParams; recorded: boolean } {
  const saved = readClusterParams(dataDir);
  if (saved) return { params: saved, recorded: false };
  const path = clusterParamsPath(dataDir);
  writeFileSync(path + ".tmp", JSON.stringify(wanted) + "\n");
  renameSync(path + ".tmp", path);
  return { params: wanted, recorded: true };
}
