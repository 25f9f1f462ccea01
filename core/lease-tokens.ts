// Lease tokens (R4): the master signs each lease it grants, and a secondary
// applies a mutation only when it comes with the token of its chunk's current
// lease. A client, which never sees a token, can push data and ask the
// primary to write, nothing more.
//
// A token names the chunk, its version and the replicas of the lease. It has
// no expiry of its own: leases are extended through heartbeats without new
// tokens, and every new lease raises the version, so a token stops working
// on a replica the moment that replica moves to a newer version.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Handle } from "../net/messages";

export const TOKEN_BYTES = 16;

export interface LeaseTerms {
  handle: Handle;
  version: number;
  primary: string;
  secondaries: readonly string[];
}

/** The signing key: derived from the cluster secret, or random (then the master hands it to chunk servers at registration). */
export function tokenKey(secret: Uint8Array | null): Uint8Array {
  if (!secret) return new Uint8Array(randomBytes(32));
  return new Uint8Array(createHmac("sha256", secret).update("gfs-lease-token-key-v1").digest());
}

export function signLease(key: Uint8Array, t: LeaseTerms): Uint8Array {
  const h = createHmac("sha256", key);
  h.update(`gfs-lease-v1\0${t.handle}\0${t.version}\0${t.primary}\0${t.secondaries.join("\0")}`);
  return new Uint8Array(h.digest().subarray(0, TOKEN_BYTES));
}

export function leaseTokenValid(key: Uint8Array, t: LeaseTerms, token: unknown): boolean {
  if (!(token instanceof Uint8Array) || token.byteLength !== TOKEN_BYTES) return false;
  return timingSafeEqual(signLease(key, t), token);
}
