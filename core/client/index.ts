// The library entry point: `import { connect } from "gfs"` (Bun, TypeScript).
// connect() with no options finds the cluster as the gfs command does:
// GFS_MASTER, GFS_SECRET_FILE or GFS_SECRET. Errors are GfsError with a `code`
// from ErrorCode that a caller can switch on.
export { connect, GfsClient, type ClientOptions, type PutOptions } from "./client";
export type { ReadOptions } from "./reader";
export { Appender, AppendBatcher, type AppendOptions } from "./appender";
export { encodeRecord, RecordScanner, RecordSequencer, type Record } from "./records";
export { GfsError, ErrorCode } from "../../net/errors";
