// `gfs dev` as a user runs it, and a large put through stdin in bounded memory.
import { afterAll, describe, expect, test } from "bun:test";
import { GFS, TestCluster, rssOf, runGfs, stopAll, waitFor } from "../helpers/cluster";

afterAll(stopAll);

function refuses(port: number): Promise<boolean> {
  return Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then(
    (s) => {
      s.end();
      return false;
    },
    () => true,
  );
}

describe("gfs dev", () => {
  test("runs a working cluster, prints GFS_MASTER, and stops every process on Ctrl-C", async () => {
    const dev = Bun.spawn([GFS, "dev", "--port", "0", "--chunkservers", "3"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    try {
      const reader = dev.stdout.getReader();
      let out = "";
      const master = await waitFor("the GFS_MASTER line", async () => {
        const { value, done } = await reader.read();
        if (done) throw new Error("gfs dev exited early");
        out += new TextDecoder().decode(value);
        return /GFS_MASTER=(\S+)/.exec(out)?.[1];
      }, 30_000, 0);
      const env = { GFS_MASTER: master };
      await runGfs(["put", "-", "/hello.txt"], { stdin: "hello from gfs dev\n", env });
      expect((await runGfs(["cat", "/hello.txt"], { env })).stdout).toBe("hello from gfs dev\n");
      const cluster = JSON.parse((await runGfs(["cluster", "--json"], { env })).stdout);
      expect(cluster.chunkservers.filter((s: { state: string }) => s.state === "up")).toHaveLength(3);
      dev.kill("SIGINT");
      expect(await dev.exited).toBe(0);
      // Every server port is closed now: the master's and each chunk server's.
      const ports = [Number(master.split(":")[1]), ...cluster.chunkservers.map((s: { address: string }) => Number(s.address.split(":")[1]))];
      for (const port of ports) expect(await refuses(port)).toBe(true);
    } finally {
      dev.kill("SIGKILL");
    }
  }, 90_000);
});

describe("bounded memory", () => {
  test("put of 2 GiB from stdin keeps the client under 200 MB RSS, and the bytes come back", async () => {
    const cluster = await new TestCluster({ chunkSize: "64MiB", chunkservers: 3 }).start();
    try {
      const total = 2 * 1024 ** 3;
      const block = new Uint8Array(1024 * 1024);
      const hashIn = new Bun.CryptoHasher("sha1");
      let produced = 0;
      const source = new ReadableStream<Uint8Array>({
        pull(ctl) {
          if (produced >= total) return ctl.close();
          // Every MiB differs: its number is stamped over a fixed pattern.
          for (let i = 0; i < block.length; i += 4096) new DataView(block.buffer).setUint32(i, produced + i);
          const piece = block.slice();
          hashIn.update(piece);
          produced += piece.byteLength;
          ctl.enqueue(piece);
        },
      });
      const put = Bun.spawn([GFS, "put", "-", "/big"], { stdin: source, stdout: "ignore", stderr: "pipe", env: { ...process.env, GFS_MASTER: cluster.masterAddr } });
      let peak = 0;
      const sampler = setInterval(() => {
        const r = rssOf(put.pid);
        if (r) peak = Math.max(peak, r);
      }, 50);
      const code = await put.exited;
      clearInterval(sampler);
      expect(code).toBe(0);
      expect(peak).toBeGreaterThan(0);
      expect(peak).toBeLessThan(200 * 1024 * 1024);
      const cat = Bun.spawn([GFS, "cat", "/big"], { stdout: "pipe", stderr: "pipe", env: { ...process.env, GFS_MASTER: cluster.masterAddr } });
      const hashOut = new Bun.CryptoHasher("sha1");
      let got = 0;
      for await (const chunk of cat.stdout) {
        hashOut.update(chunk);
        got += chunk.byteLength;
      }
      expect(await cat.exited).toBe(0);
      expect(got).toBe(total);
      expect(hashOut.digest("hex")).toBe(hashIn.digest("hex"));
      console.log(`put 2 GiB: client peak RSS ${(peak / 1e6).toFixed(0)} MB`);
    } finally {
      await cluster.stop();
    }
  }, 600_000);
});
