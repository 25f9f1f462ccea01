// Typed error codes carried over the wire in error replies (W1).

export const ErrorCode = {
  NOT_FOUND: "NOT_FOUND",
  EXISTS: "EXISTS",
  NOT_DIR: "NOT_DIR",
  IS_DIR: "IS_DIR",
  NOT_EMPTY: "NOT_EMPTY",
  INVALID_PATH: "INVALID_PATH",
  INVALID_ARGUMENT: "INVALID_ARGUMENT",
  /** No chunk server is registered to hold a new chunk (yet: servers register after a master restart). */
  NO_SERVERS: "NO_SERVERS",
  /** No live replica of a chunk is known (yet, or any more). */
  NO_REPLICA: "NO_REPLICA",
  STALE: "STALE",
  NOT_PRIMARY: "NOT_PRIMARY",
  NO_DATA: "NO_DATA",
  CHECKSUM: "CHECKSUM",
  /** A replica holds fewer bytes than were acknowledged: it is damaged (a clone from it would be too). */
  SHORT: "SHORT",
  /** A chunk server could not write its disk (full, or failing): its replica leaves, the write goes on without it. */
  DISK: "DISK",
  CHUNK_FULL: "CHUNK_FULL",
  RECORD_TOO_LARGE: "RECORD_TOO_LARGE",
  UNAVAILABLE: "UNAVAILABLE",
  /** This master does not lead (HA): `leader` names the one that does, when known. Retry there. */
  NOT_LEADER: "NOT_LEADER",
  TIMEOUT: "TIMEOUT",
  AUTH: "AUTH",
  PROTOCOL: "PROTOCOL",
  NOT_IMPLEMENTED: "NOT_IMPLEMENTED",
  INTERNAL: "INTERNAL",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const KNOWN = new Set<string>(Object.values(ErrorCode));

export class GfsError extends Error {
  constructor(readonly code: ErrorCode, message: string, readonly leader?: string) {
    super(message);
    this.name = "GfsError";
  }

  /** Whether retrying the same operation elsewhere or later can succeed. */
  get retryable(): boolean {
    return (
      this.code === ErrorCode.UNAVAILABLE ||
      this.code === ErrorCode.NOT_LEADER ||
      this.code === ErrorCode.NO_SERVERS ||
      this.code === ErrorCode.NO_REPLICA ||
      this.code === ErrorCode.TIMEOUT ||
      this.code === ErrorCode.STALE ||
      this.code === ErrorCode.NOT_PRIMARY ||
      this.code === ErrorCode.NO_DATA ||
      this.code === ErrorCode.CHECKSUM ||
      this.code === ErrorCode.DISK ||
      this.code === ErrorCode.INTERNAL
    );
  }
}

export function toWireError(err: unknown): { code: ErrorCode; message: string; leader?: string } {
  if (err instanceof GfsError) return { code: err.code, message: err.message, ...(err.leader ? { leader: err.leader } : {}) };
  return { code: ErrorCode.INTERNAL, message: err instanceof Error ? err.message : String(err) };
}

export function fromWireError(e: unknown): GfsError {
  const obj = (e ?? {}) as { code?: unknown; message?: unknown; leader?: unknown };
  const code = typeof obj.code === "string" && KNOWN.has(obj.code) ? (obj.code as ErrorCode) : ErrorCode.INTERNAL;
  const message = typeof obj.message === "string" ? obj.message : "unknown error";
  return new GfsError(code, message, typeof obj.leader === "string" ? obj.leader : undefined);
}

export function assert(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(`invariant violated: ${what}`);
}
