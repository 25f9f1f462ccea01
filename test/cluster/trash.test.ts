// The trash and garbage collection (M13): rm moves to /.trash, undelete
// brings it back, the TTL erases it and its chunks leave the servers' disks;
// an interrupted put's upload is reclaimed.
import { afterAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { handleName } from "../../core/handles";
import { GFS, TestCluster, randomBytes, stopAll, waitFor } from "../helpers/cluster";

afterAll(stopAll);

const MiB = 1024 * 1024;

function chunkFilesOf(cluster: TestCluster, handles: number[]): string[] {
  return cluster.chunkservers.flatMap((d) => handles.map((h) => join(d.dataDir, "chunks", `${handleName(h)}.chunk`))).filter((f) => existsSync(f));
}

test("rm, then undelete: the file is back, identical; with a short TTL its chunks leave the disks; rm in the trash erases at once", async () => {
  const cluster = await new TestCluster({ chunkservers: 3, replication: 3, chunkSize: "1MiB", masterArgs: ["--trash-ttl", "3s", "--gc-interval", "200ms"] }).start();
  try {
    const data = randomBytes(2 * MiB + 77, 90);
    await cluster.gfs(["put", "-", "/docs/a", "-p"], { stdin: data });
    const handles: number[] = JSON.parse((await cluster.gfs(["stat", "/docs/a", "--json"])).stdout).chunks.map((c: { handle: string }) => parseInt(c.handle, 16));
    expect(chunkFilesOf(cluster, handles)).toHaveLength(9);

    await cluster.gfs(["rm", "/docs/a"]);
    expect((await cluster.gfs(["cat", "/docs/a"], { check: false })).code).toBe(1);
    const trashed: string = JSON.parse((await cluster.gfs(["ls", "-a", "-R", "/.trash", "--json"])).stdout).find((e: { type: string }) => e.type === "file").path;
    expect(trashed).toMatch(/^\/\.trash\/\d+-\d+\/docs\/a$/);
    expect(Buffer.compare((await cluster.gfs(["cat", trashed])).stdoutBytes, data)).toBe(0); // still readable there
    expect((await cluster.gfs(["undelete", "/docs/a"])).stdout).toBe(`/docs/a: restored from ${trashed}\n`);
    expect(Buffer.compare((await cluster.gfs(["cat", "/docs/a"])).stdoutBytes, data)).toBe(0);
    expect((await cluster.gfs(["undelete", "/docs/a"], { check: false })).stderr).toMatch(/exists/);

    // Removed again: after the TTL its metadata is erased and its chunk files deleted.
    await cluster.gfs(["rm", "/docs/a"]);
    await waitFor("the chunk files to leave the disks", () => chunkFilesOf(cluster, handles).length === 0, 20_000, 100);
    expect((await cluster.gfs(["undelete", "/docs/a"], { check: false })).stderr).toMatch(/not in the trash/);
    expect(cluster.master.log.some((l) => /trash: \/\.trash\/\d+-\d+ erased/.test(l))).toBe(true);

    // rm of something in the trash erases it at once.
    await cluster.gfs(["put", "-", "/b"], { stdin: randomBytes(MiB, 91) });
    const bHandles: number[] = JSON.parse((await cluster.gfs(["stat", "/b", "--json"])).stdout).chunks.map((c: { handle: string }) => parseInt(c.handle, 16));
    await cluster.gfs(["rm", "/b"]);
    const bTrashed: string = JSON.parse((await cluster.gfs(["ls", "-a", "-R", "/.trash", "--json"])).stdout).find((e: { type: string }) => e.type === "file").path;
    await cluster.gfs(["rm", bTrashed]);
    expect((await cluster.gfs(["cat", bTrashed], { check: false })).code).toBe(1);
    await waitFor("its chunk files to leave the disks", () => chunkFilesOf(cluster, bHandles).length === 0, 10_000, 50);
  } finally {
    await cluster.stop();
  }
}, 120_000);

test("a directory made with --no-trash: removals below it erase at once; it survives a master restart", async () => {
  const cluster = await new TestCluster({ chunkservers: 3, replication: 3, chunkSize: "1MiB" }).start();
  try {
    await cluster.gfs(["mkdir", "--no-trash", "/scratch"]);
    await cluster.gfs(["put", "-", "/scratch/sub/x", "-p"], { stdin: randomBytes(MiB + 1, 93) });
    const handles: number[] = JSON.parse((await cluster.gfs(["stat", "/scratch/sub/x", "--json"])).stdout).chunks.map((c: { handle: string }) => parseInt(c.handle, 16));
    await cluster.gfs(["rm", "/scratch/sub/x"]);
    expect((await cluster.gfs(["ls", "-a", "/.trash"], { check: false })).stdout).toBe("");
    await waitFor("its chunk files to leave the disks", () => chunkFilesOf(cluster, handles).length === 0, 10_000, 50);
    await cluster.kill(cluster.master);
    await cluster.restartMaster();
    await cluster.waitForServers(3);
    await cluster.gfs(["put", "-", "/scratch/y"], { stdin: "y\n" });
    await cluster.gfs(["rm", "/scratch/y"]);
    expect((await cluster.gfs(["ls", "-a", "/.trash"], { check: false })).stdout).toBe("");
    // Elsewhere the trash still applies.
    await cluster.gfs(["put", "-", "/kept"], { stdin: "k\n" });
    await cluster.gfs(["rm", "/kept"]);
    expect((await cluster.gfs(["ls", "-a", "/.trash"])).stdout).toMatch(/^\d+-\d+\/\n$/);
  } finally {
    await cluster.stop();
  }
}, 60_000);

test("a put killed half-way: its upload in /.put is reclaimed after the upload timeout, chunks and all", async () => {
  const cluster = await new TestCluster({ chunkservers: 3, replication: 3, chunkSize: "1MiB", masterArgs: ["--upload-timeout", "2s", "--gc-interval", "200ms"] }).start();
  try {
    const put = Bun.spawn([GFS, "put", "-", "/big"], { stdin: "pipe", stdout: "ignore", stderr: "pipe", env: { ...process.env, GFS_MASTER: cluster.masterAddr } });
    put.stdin.write(randomBytes(3 * MiB, 92));
    await put.stdin.flush();
    const uploads = async () => JSON.parse((await cluster.gfs(["ls", "-a", "/.put", "--json"], { check: false })).stdout || "[]") as { path: string; chunks: number }[];
    const tmp = await waitFor("chunks of the upload", async () => (await uploads()).find((e) => e.chunks >= 2), 20_000, 50);
    const handles: number[] = JSON.parse((await cluster.gfs(["stat", tmp.path, "--json"])).stdout).chunks.map((c: { handle: string }) => parseInt(c.handle, 16));
    put.kill("SIGKILL"); // a crash: nothing cleans up after it
    await put.exited;
    expect((await uploads()).map((e) => e.path)).toEqual([tmp.path]);
    await waitFor("the upload to be reclaimed", async () => (await uploads()).length === 0, 20_000, 100);
    await waitFor("its chunk files to leave the disks", () => chunkFilesOf(cluster, handles).length === 0, 20_000, 100);
    expect(cluster.master.log.some((l) => l.includes(`upload ${tmp.path} reclaimed`))).toBe(true);
    expect((await cluster.gfs(["ls", "/big"], { check: false })).code).toBe(1);
  } finally {
    await cluster.stop();
  }
}, 120_000);
