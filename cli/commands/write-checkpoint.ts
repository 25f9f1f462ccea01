// gfs write-checkpoint (internal, not in --help): the master runs this in a
// child process to rebuild its state from disk up to log record N and write
// it out as a checkpoint, off the serving process.
import { defineCommand } from "citty";
import { recover, writeCheckpoint } from "../../core/master/checkpoint";
import { readClusterParams } from "../../core/master/cluster-params";
import { initChecksums } from "../../core/checksums";
import { parseCount, UsageError } from "../options";

export default defineCommand({
  meta: { name: "write-checkpoint", description: "(internal) write checkpoint N of a master's --data directory and exit" },
  args: {
    data: { type: "string", description: "The master's data directory", valueHint: "DIR", required: true },
    seq: { type: "string", description: "The last log record the checkpoint covers", valueHint: "N", required: true },
  },
  async run({ args }) {
    await initChecksums();
    const seq = parseCount(args.seq, "--seq", 1);
    const params = readClusterParams(args.data);
    if (!params) throw new UsageError(`${args.data} holds no cluster`);
    const { state } = recover(args.data, params, { uptoSeq: seq, repairTail: false });
    writeCheckpoint(args.data, state, seq);
  },
});
