// The library entry point: `import { connect } from "gfs/core/client"`.
export { connect, GfsClient, type ClientOptions, type PutOptions } from "./client";
export type { ReadOptions } from "./reader";
export { Appender, AppendBatcher, type AppendOptions } from "./appender";
export { encodeRecord, RecordScanner, RecordSequencer, type Record } from "./records";
export { GfsError, ErrorCode } from "../../net/errors";
