// Protocol version check and HMAC challenge-response (W3). The secret never
// crosses the wire: each side proves knowledge of it by a MAC over both nonces.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const NONCE_BYTES = 32;

export function newNonce(): Uint8Array {
  return new Uint8Array(randomBytes(NONCE_BYTES));
}

/** MAC the client sends: binds the server's challenge and the client's nonce. */
export function clientProof(secret: Uint8Array, challenge: Uint8Array, clientNonce: Uint8Array): Uint8Array {
  return mac(secret, "gfs-client-v1", challenge, clientNonce);
}

/** MAC the server answers with, so the client knows the server holds the secret too. */
export function serverProof(secret: Uint8Array, challenge: Uint8Array, clientNonce: Uint8Array): Uint8Array {
  return mac(secret, "gfs-server-v1", challenge, clientNonce);
}

export function macEqual(a: Uint8Array, b: unknown): boolean {
  if (!(b instanceof Uint8Array) || a.byteLength !== b.byteLength) return false;
  return timingSafeEqual(a, b);
}

function mac(secret: Uint8Array, label: string, a: Uint8Array, b: Uint8Array): Uint8Array {
  const h = createHmac("sha256", secret);
  h.update(label);
  h.update(a);
  h.update(b);
  return new Uint8Array(h.digest());
}
