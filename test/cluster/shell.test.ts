// The CLI as a shell user meets it: pipes closed early, a full output device,
// mistyped flags, several paths at once, and two daemons on one directory.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GFS, TestCluster, randomBytes, startDaemon, stopAll, waitFor } from "../helpers/cluster";

const MiB = 1024 * 1024;

/** Runs a bash pipeline with `gfs` on PATH; returns the pipeline's PIPESTATUS, stdout, stderr and time. */
async function sh(cluster: TestCluster, script: string): Promise<{ status: number[]; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  const proc = Bun.spawn(["bash", "-c", `${script}; echo "status ${"${PIPESTATUS[*]}"}" >&2`], {
    stdout: "pipe", stderr: "pipe",
    env: { ...process.env, GFS_MASTER: cluster.masterAddr, PATH: `${join(GFS, "..")}:${process.env.PATH}` },
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 60_000);
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  const m = /status ([\d ]+)\n$/.exec(stderr);
  return { status: m ? m[1]!.trim().split(" ").map(Number) : [], stdout, stderr: stderr.replace(/status [\d ]+\n$/, ""), ms: Date.now() - t0 };
}

/** Runs a daemon command that should exit by itself (within 10 s). */
async function runDaemonToExit(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stderr: string }> {
  const proc = Bun.spawn([GFS, ...args], { stdout: "ignore", stderr: "pipe", env: { ...process.env, ...env } });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stderr };
}

describe("gfs in a shell", () => {
  let cluster: TestCluster;
  const big = randomBytes(48 * MiB, 91);

  beforeAll(async () => {
    cluster = await new TestCluster({ chunkservers: 3, chunkSize: "4MiB" }).start();
    await cluster.gfs(["put", "-", "/big"], { stdin: big });
    await cluster.gfs(["append", "/log", "--lines"], { stdin: Array.from({ length: 200_000 }, (_, i) => `line ${i}`).join("\n") + "\n" });
  });
  afterAll(async () => {
    await cluster?.stop();
    await stopAll();
  });

  test("a chunk server whose secret the master refuses says so and exits 1 at once", async () => {
    const secure = await new TestCluster({ chunkservers: 1, env: { GFS_SECRET: "the right one" } }).start();
    try {
      const r = await runDaemonToExit(["chunkserver", "--data", join(secure.dir, "wrong"), "--master", secure.masterAddr, "--listen", "127.0.0.1:0"], { GFS_SECRET: "a wrong one" });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("gfs: the master refused this chunk server: authentication failed: wrong cluster secret (check --secret-file)");
    } finally {
      await secure.stop();
    }
  });

  test("a reader that stops early (head) ends cat at once, quietly, with status 141", async () => {
    const bytes = await sh(cluster, "gfs cat /big | head -c 10 | wc -c");
    expect(bytes.stdout.trim()).toBe("10");
    expect(bytes.status[0]).toBe(141);
    expect(bytes.stderr).toBe("");
    expect(bytes.ms).toBeLessThan(10_000);
    // 200,000 records (2 MB) do not fit in the pipe, even enlarged to 1 MiB.
    const records = await sh(cluster, "gfs cat --records /log | head -2");
    expect(records.stdout).toBe("line 0\nline 1\n");
    expect(records.status[0]).toBe(141);
    expect(records.stderr).toBe("");
  });

  test("a write error (/dev/full) is one gfs: line and status 1", async () => {
    const r = await sh(cluster, "gfs cat /big > /dev/full");
    expect(r.status).toEqual([1]);
    expect(r.stderr).toBe("gfs: writing standard output: no space left on device\n");
  });

  test("cat into a file and through a pipe gives every byte", async () => {
    const dir = cluster.dir;
    const r = await sh(cluster, `gfs cat /big > ${dir}/big.out && gfs cat /big | cat > ${dir}/big.pipe`);
    expect(r.status).toEqual([0, 0]);
    for (const f of ["big.out", "big.pipe"]) expect(Buffer.compare(new Uint8Array(await Bun.file(join(dir, f)).arrayBuffer()), big)).toBe(0);
  });

  test("unknown flags and surplus arguments are bad usage (status 2), with a suggestion for a near miss", async () => {
    const bogus = await cluster.gfs(["ls", "--bogus"], { check: false });
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toBe("gfs ls: unknown option '--bogus' (see gfs ls --help)\n");
    const typo = await cluster.gfs(["ls", "--jsno"], { check: false });
    expect([typo.code, typo.stdout]).toEqual([2, ""]);
    expect(typo.stderr).toContain("did you mean --json?");
    const length = await cluster.gfs(["cat", "/big", "--lenght", "5"], { check: false });
    expect(length.code).toBe(2);
    expect(length.stderr).toContain("unknown option '--lenght' (did you mean --length?)");
    const extra = await cluster.gfs(["stat", "/big", "/log"], { check: false });
    expect(extra.code).toBe(2);
    expect(extra.stderr).toContain("unexpected argument '/log'");
    const cmd = await cluster.gfs(["lss"], { check: false });
    expect(cmd.code).toBe(2);
    expect(cmd.stderr).toContain("did you mean ls?");
  });

  test("mkdir and rm take several paths; ls -lh prints sizes for people; help and version", async () => {
    await cluster.gfs(["mkdir", "/a", "/b", "/c"]);
    expect((await cluster.gfs(["ls"])).stdout).toContain("a/\nb/\nbig\nc/\n");
    await cluster.gfs(["rm", "/a", "/b"]);
    expect((await cluster.gfs(["ls"])).stdout).toBe("big\nc/\nlog\n");
    expect((await cluster.gfs(["ls", "-lh", "/big"])).stdout).toContain(" 48.0 MiB ");
    const help = await cluster.gfs(["help", "put"]);
    expect(help.stdout).toContain("USAGE gfs put");
    const version = await cluster.gfs(["version"]);
    expect(version.stdout).toMatch(/^gfs \d+\.\d+\.\d+ \(commit (?:[0-9a-f]+|unknown), protocol \d+\)\n$/);
  });

  test("mistakes are one line and leave nothing behind: put --force onto a directory, an oversized append, a port in use", async () => {
    await cluster.gfs(["mkdir", "/dir"]);
    const force = await cluster.gfs(["put", "-", "/dir", "--force"], { stdin: "x", check: false });
    expect([force.code, force.stderr]).toEqual([1, "gfs: /dir is a directory; a put replaces only a file (name the file inside it: /dir/NAME)\n"]);
    expect((await cluster.gfs(["ls", "/dir"])).stdout).toBe("");
    const huge = await cluster.gfs(["append", "/huge"], { stdin: new Uint8Array(2 * MiB), check: false });
    expect(huge.code).toBe(1);
    expect(huge.stderr).toContain("over a quarter of the chunk size");
    expect((await cluster.gfs(["stat", "/huge"], { check: false })).code).toBe(1);
    const taken = await runDaemonToExit(["master", "--data", join(cluster.dir, "m2"), "--listen", cluster.masterAddr]);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain(`gfs: cannot listen on ${cluster.masterAddr}: the address is already in use (EADDRINUSE`);
  });

  test("a project outside the repository imports the library by package name; connect() finds the cluster from GFS_MASTER", async () => {
    const scratch = join(cluster.dir, "scratch");
    mkdirSync(join(scratch, "node_modules"), { recursive: true });
    symlinkSync(join(import.meta.dir, "../.."), join(scratch, "node_modules", "gfs")); // what `npm install /path/to/gfs` makes
    writeFileSync(join(scratch, "package.json"), JSON.stringify({ name: "scratch", private: true, type: "module", dependencies: { gfs: "file:../gfs" } }));
    writeFileSync(join(scratch, "app.ts"), [
      `import { connect, ErrorCode, GfsError } from "gfs";`,
      `const c = connect();`,
      `async function* one(b: Uint8Array) { yield b; }`,
      `await c.put("/from-lib", one(new TextEncoder().encode("library bytes")));`,
      `let text = "";`,
      `for await (const part of c.read("/from-lib")) text += new TextDecoder().decode(part);`,
      `await c.ensureFile("/lib-log");`,
      `const at = await c.appender("/lib-log").append(new TextEncoder().encode("a record"));`,
      `const again = await c.put("/from-lib", one(new Uint8Array(1))).then(() => "replaced", (e) => e instanceof GfsError && e.code === ErrorCode.EXISTS ? e.message : String(e));`,
      `console.log(JSON.stringify({ text, at, again }));`,
      `c.close();`,
    ].join("\n"));
    const proc = Bun.spawn([process.execPath, "app.ts"], { cwd: scratch, stdout: "pipe", stderr: "pipe", env: { ...process.env, GFS_MASTER: cluster.masterAddr } });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(err).toBe("");
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ text: "library bytes", at: 0, again: "/from-lib already exists (put with overwrite to replace it)" });
    expect((await cluster.gfs(["cat", "--records", "/lib-log"])).stdout).toBe("a record\n");
  });

  test("bash completion asks the master for remote paths: gfs cat /da<Tab> offers /data/", async () => {
    await cluster.gfs(["mkdir", "/data/inner", "-p"]);
    await cluster.gfs(["put", "-", "/data/file"], { stdin: "x" });
    const complete = async (words: string[]) => {
      const script = `source ${join(import.meta.dir, "../../completions/gfs.bash")}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _gfs; printf '%s\\n' "\${COMPREPLY[@]}"`;
      return (await sh(cluster, script)).stdout.split("\n").filter(Boolean);
    };
    expect(await complete(["gfs", "cat", "/da"])).toEqual(["/data/"]);
    expect((await complete(["gfs", "ls", "/data/"])).sort()).toEqual(["/data/file", "/data/inner/"]);
    expect(await complete(["gfs", "put", "-", "/data/f"])).toEqual(["/data/file"]); // after `-` (stdin), the remote path
    writeFileSync(join(cluster.dir, "local-to-put.bin"), "x");
    expect(await complete(["gfs", "put", `${cluster.dir}/local-to`])).toEqual([`${cluster.dir}/local-to-put.bin`]); // the first is a local file
    expect(await complete(["gfs", "master", "--chunk-size", "16"])).toEqual(["16MiB"]);
    expect(await complete(["gfs", "completion", "z"])).toEqual(["zsh"]);
  });

  test("Ctrl-C during a put says where it stopped, removes its upload, and stores nothing", async () => {
    const proc = Bun.spawn([GFS, "put", "-", "/interrupted"], { stdin: "pipe", stdout: "ignore", stderr: "pipe", env: { ...process.env, GFS_MASTER: cluster.masterAddr } });
    const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
    proc.stdin.write(new Uint8Array(6 * MiB));
    proc.stdin.flush();
    await waitFor("the upload in /.put", async () => (await cluster.gfs(["ls", "-a", "/.put"], { check: false })).stdout.includes("interrupted."), 10_000, 50);
    await waitFor("some bytes stored", async () => {
      const name = (await cluster.gfs(["ls", "-a", "/.put"])).stdout.trim();
      return name ? JSON.parse((await cluster.gfs(["stat", `/.put/${name}`, "--json"])).stdout).chunkCount >= 1 : false;
    }, 10_000, 50);
    proc.kill("SIGINT");
    const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(timer);
    expect(code).toBe(130);
    expect(err).toMatch(/gfs: put interrupted after \d+ bytes; nothing was stored at \/interrupted\n$/);
    expect((await cluster.gfs(["ls", "-a", "/.put"], { check: false })).stdout).toBe("");
    expect((await cluster.gfs(["stat", "/interrupted"], { check: false })).code).toBe(1);
  });

  test("a second chunk server on a data directory in use exits 2 at once; the first keeps serving", async () => {
    const first = cluster.chunkservers[0]!;
    const proc = Bun.spawn([GFS, "chunkserver", "--data", first.dataDir, "--master", cluster.masterAddr, "--listen", "127.0.0.1:0"], { stdout: "ignore", stderr: "pipe" });
    const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
    const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(timer);
    expect(code).toBe(2);
    expect(err).toContain(`${first.dataDir} is in use by another chunk server (PID ${first.proc.pid})`);
    expect(Buffer.compare((await cluster.gfs(["cat", "/big"])).stdoutBytes, big)).toBe(0);
    // A lock left by a killed server does not keep its successor out.
    await cluster.kill(first);
    const again = await startDaemon("cs0", first.args, first.dataDir);
    cluster.chunkservers[0] = again;
    await cluster.waitForServers(3);
  });
});
