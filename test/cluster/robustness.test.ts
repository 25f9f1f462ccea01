// Hostile input on the wire, secrets, and what a user sees on bad requests.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { TestCluster, randomBytes, rssOf, runGfs, stopAll, tempDir, waitFor } from "../helpers/cluster";
import { encodeMessage } from "../../net/envelope";
import { PROTOCOL_VERSION } from "../../net/messages";

async function sendRaw(port: number, bytes: Uint8Array, holdMs = 100): Promise<void> {
  await new Promise<void>((resolve) => {
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          s.write(bytes);
          setTimeout(() => {
            s.end();
            resolve();
          }, holdMs);
        },
        data() {},
        close() {
          resolve();
        },
        error() {
          resolve();
        },
        connectError() {
          resolve();
        },
      },
    });
  });
}

describe("hostile and wrong input", () => {
  const cluster = new TestCluster({ chunkSize: "1MiB", chunkservers: 3 });
  const data = randomBytes(3 * 1024 * 1024 + 123, 3);
  beforeAll(async () => {
    await cluster.start();
    await cluster.gfs(["put", "-", "/keep"], { stdin: data });
  });
  afterAll(async () => {
    await cluster.stop();
    await stopAll();
  });

  test("random bytes, a 4 GiB length prefix and truncated frames leave master and chunk server serving", async () => {
    const targets = [cluster.master.port, cluster.chunkservers[0]!.port];
    const hugePrefix = new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
    const truncated = new Uint8Array([0, 0, 0, 50, 0x83, 0xa1]); // promises 50 bytes, sends 2
    const validFrameBadBody = new Uint8Array([0, 0, 0, 3, 0xc1, 0xc1, 0xc1]);
    const unknownType = (() => {
      const body = new Uint8Array([0x83, 0xa1, 0x69, 0x01, 0xa1, 0x74, 0xa3, 0x78, 0x79, 0x7a, 0xa1, 0x62, 0x80]); // {i:1,t:"xyz",b:{}}
      const f = new Uint8Array(4 + body.length);
      new DataView(f.buffer).setUint32(0, body.length);
      f.set(body, 4);
      return f;
    })();
    for (const port of targets) {
      for (let i = 0; i < 20; i++) await sendRaw(port, randomBytes(1 + ((i * 977) % 5000), 100 + i), 10);
      await sendRaw(port, hugePrefix);
      await sendRaw(port, truncated);
      await sendRaw(port, validFrameBadBody);
      await sendRaw(port, unknownType);
    }
    expect(cluster.master.proc.exitCode).toBeNull();
    expect(cluster.chunkservers[0]!.proc.exitCode).toBeNull();
    const out = await cluster.gfs(["cat", "/keep"]);
    expect(Buffer.compare(out.stdoutBytes, data)).toBe(0);
    expect(cluster.master.log.some((l) => /closing connection from .*exceeds the limit/.test(l))).toBe(true);
  });

  test("bad input gets one clear line and the documented exit status", async () => {
    const badPath = await cluster.gfs(["mkdir", "/a/../b"], { check: false });
    expect(badPath.code).toBe(2);
    expect(badPath.stderr.trim()).toMatch(/^gfs: path may not contain '\.\.'/);
    expect(badPath.stderr.trim().split("\n")).toHaveLength(1);

    const missing = await cluster.gfs(["cat", "/nope"], { check: false });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^gfs: \/nope: no such file/);

    const relative = await cluster.gfs(["ls", "relative"], { check: false });
    expect(relative.code).toBe(2);

    const unknown = await runGfs(["frobnicate"], { check: false });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^gfs: unknown command 'frobnicate'/);

    const badSize = await runGfs(["master", "--data", tempDir(), "--chunk-size", "lots"], { check: false });
    expect(badSize.code).toBe(2);
    expect(badSize.stderr).toMatch(/--chunk-size: 'lots' is not a size/);

  });

  test("put onto an existing file fails without --force and loses nothing; --force replaces it", async () => {
    const other = join(tempDir(), "other");
    writeFileSync(other, "something else\n");
    const again = await cluster.gfs(["put", other, "/keep"], { check: false });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/\/keep already exists/);
    expect(Buffer.compare((await cluster.gfs(["cat", "/keep"])).stdoutBytes, data)).toBe(0);
    await cluster.gfs(["put", other, "/keep", "--force"]);
    expect((await cluster.gfs(["cat", "/keep"])).stdout).toBe("something else\n");
    // No temporary names are left behind by either put.
    const names = JSON.parse((await cluster.gfs(["ls", "/", "--json"])).stdout).map((e: { name: string }) => e.name);
    expect(names).toEqual(["keep"]);
  });

  test("namespace operations: mkdir -p, mv, rm -r, ls -R", async () => {
    await cluster.gfs(["mkdir", "-p", "/x/y/z"]);
    await cluster.gfs(["put", "-", "/x/y/z/f"], { stdin: "hello\n" });
    await cluster.gfs(["mv", "/x/y", "/x/w"]);
    expect((await cluster.gfs(["cat", "/x/w/z/f"])).stdout).toBe("hello\n");
    expect((await cluster.gfs(["ls", "-R", "/x"])).stdout).toBe("/x/w/\n/x/w/z/\n/x/w/z/f\n");
    const notEmpty = await cluster.gfs(["rm", "/x"], { check: false });
    expect(notEmpty.code).toBe(1);
    expect(notEmpty.stderr).toMatch(/non-empty directory/);
    await cluster.gfs(["rm", "-r", "/x"]);
    expect((await cluster.gfs(["ls", "/x"], { check: false })).code).toBe(1);
  });
});

describe("a cluster with a secret", () => {
  const dir = tempDir();
  const secretFile = join(dir, "secret");
  const wrongFile = join(dir, "wrong");
  writeFileSync(secretFile, "correct horse battery staple\n");
  writeFileSync(wrongFile, "not the secret\n");
  const cluster = new TestCluster({ chunkSize: "1MiB", chunkservers: 1, replication: 1, env: { GFS_SECRET_FILE: secretFile } });
  beforeAll(async () => {
    await cluster.start();
  });
  afterAll(async () => {
    await cluster.stop();
    await stopAll();
  });

  test("accepts a client with the secret and refuses one with a wrong or no secret, with a clear message", async () => {
    await cluster.gfs(["put", "-", "/s"], { stdin: "secret data\n" });
    expect((await cluster.gfs(["cat", "/s"])).stdout).toBe("secret data\n");
    const wrong = await cluster.gfs(["cat", "/s", "--secret-file", wrongFile], { check: false });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim()).toBe("gfs: authentication failed: wrong cluster secret");
    const none = await runGfs(["ls", "/"], { env: { GFS_MASTER: cluster.masterAddr, GFS_SECRET_FILE: "" }, check: false });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/requires a cluster secret/);
    expect(cluster.master.log.some((l) => /refused .*wrong cluster secret/.test(l))).toBe(true);
  });
});

/** A raw connection for hostile tests: frames are written as given; replies are ignored (or not read at all). */
async function hostile(port: number, opts: { hello?: boolean; paused?: boolean } = {}): Promise<{ write(b: Uint8Array): void; closed: Promise<void>; end(): void }> {
  let onHello!: () => void;
  const helloDone = new Promise<void>((r) => (onHello = r));
  let closedResolve!: () => void;
  const closed = new Promise<void>((r) => (closedResolve = r));
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data() {
        onHello();
      },
      close() {
        closedResolve();
      },
      error() {
        closedResolve();
      },
    },
  });
  if (opts.hello) {
    socket.write(encodeMessage({ i: 1, t: "hello", b: { proto: PROTOCOL_VERSION, role: "client", name: "hostile" } }));
    await helloDone;
  }
  if (opts.paused) socket.pause();
  return { write: (b) => socket.write(b), closed, end: () => socket.end() };
}

const prefix16MiB = new Uint8Array([0x01, 0, 0, 0]);

async function settledPeak(pid: number): Promise<number> {
  // The high-water mark once it has stopped moving for a second.
  let last = -1;
  let since = Date.now();
  await waitFor("memory to settle", () => {
    const now = rssOf(pid)!;
    if (now !== last) {
      last = now;
      since = Date.now();
    }
    return Date.now() - since > 1_000;
  }, 30_000, 100);
  return last;
}

describe("memory stays bounded whatever the network sends", () => {
  const cluster = new TestCluster({ chunkSize: "8MiB", chunkservers: 1, replication: 1, masterArgs: ["--idle-timeout", "2s"], chunkserverArgs: () => ["--idle-timeout", "2s"] });
  const MiB = 1024 * 1024;
  beforeAll(async () => {
    await cluster.start();
  });
  afterAll(async () => {
    await cluster.stop();
    await stopAll();
  });

  test("60 connections announcing 16 MiB frames, before and after the handshake, grow the master by under 100 MiB", async () => {
    const pid = cluster.master.proc.pid;
    const before = await settledPeak(pid);
    const junk = randomBytes(512 * 1024, 40);
    const conns = [];
    for (let i = 0; i < 30; i++) {
      const c = await hostile(cluster.master.port);
      c.write(prefix16MiB);
      c.write(junk);
      conns.push(c);
    }
    for (let i = 0; i < 30; i++) {
      const c = await hostile(cluster.master.port, { hello: true });
      c.write(prefix16MiB);
      c.write(junk);
      conns.push(c);
    }
    const after = await settledPeak(pid);
    expect(after - before).toBeLessThan(100 * MiB);
    expect((await cluster.gfs(["ls", "/"])).code).toBe(0);
    // The 30 that never said hello were cut off at once; the others once idle.
    await Promise.all(conns.map((c) => c.closed));
    expect(cluster.master.log.some((l) => /exceeds the limit of 4096/.test(l))).toBe(true);
  }, 60_000);

  test("200 reads whose replies are never read grow a chunk server by under 100 MiB", async () => {
    await cluster.gfs(["put", "-", "/big"], { stdin: randomBytes(8 * MiB, 41) });
    const chunk = JSON.parse((await cluster.gfs(["stat", "/big", "--json"])).stdout).chunks[0];
    const cs = cluster.chunkservers[0]!;
    const before = await settledPeak(cs.proc.pid);
    const c = await hostile(cs.port, { hello: true, paused: true });
    for (let i = 0; i < 200; i++) c.write(encodeMessage({ i: 10 + i, t: "read", b: { handle: parseInt(chunk.handle, 16), version: chunk.version, offset: 0, length: 8 * MiB } }));
    // It keeps serving others meanwhile.
    expect((await cluster.gfs(["cat", "/big"])).stdoutBytes.byteLength).toBe(8 * MiB);
    const after = await settledPeak(cs.proc.pid);
    expect(after - before).toBeLessThan(100 * MiB);
    c.end();
  }, 60_000);

  test("a client that announces 4 pushes of 64 MiB and sends nothing does not hold up a put", async () => {
    const c = await hostile(cluster.chunkservers[0]!.port, { hello: true });
    for (let i = 0; i < 4; i++) c.write(encodeMessage({ i: 100 + i, t: "push", b: { dataId: `silent-${i}`, size: 64 * MiB, chain: [], crc: 0 } }));
    const t0 = Date.now();
    await cluster.gfs(["put", "-", "/while-silent"], { stdin: randomBytes(16 * MiB, 42) });
    expect(Date.now() - t0).toBeLessThan(10_000);
    c.end();
  }, 60_000);

  test("a connection that trickles a byte now and then is closed once idle", async () => {
    const c = await hostile(cluster.chunkservers[0]!.port, { hello: true });
    c.write(prefix16MiB);
    let open = true;
    void c.closed.then(() => (open = false));
    const trickle = setInterval(() => open && c.write(new Uint8Array([1])), 200);
    try {
      await waitFor("the trickling connection to be closed", () => !open, 20_000);
    } finally {
      clearInterval(trickle);
    }
  }, 30_000);
});
