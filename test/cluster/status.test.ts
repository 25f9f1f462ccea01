// What an operator looks at: /metrics on the master and a chunk server, the
// status page in headless Chromium, and gfs events.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { TestCluster, randomBytes, stopAll, waitFor, type Daemon } from "../helpers/cluster";

const MiB = 1024 * 1024;

/** The port a daemon's --http serves on, from its log. */
async function httpPort(d: Daemon): Promise<number> {
  const line = await waitFor(`${d.name} to serve http`, () => d.log.find((l) => /(status page|metrics) on http:\/\/[\d.]+:\d+\//.test(l)), 10_000);
  return Number(/http:\/\/[\d.]+:(\d+)\//.exec(line)![1]);
}

/** Parses the Prometheus text format strictly: every sample's family declared, every value a number. Returns sample values by name and labels. */
function parsePrometheus(text: string): Map<string, number> {
  const types = new Map<string, string>();
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === "TYPE") {
        expect(["counter", "gauge", "histogram", "summary", "untyped"]).toContain(meta[3]!);
        types.set(meta[2]!, meta[3]!);
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|\+Inf|NaN)$/.exec(line);
    expect(m, `a sample line: ${line}`).not.toBeNull();
    const family = m![1]!.replace(/_(bucket|sum|count)$/, "");
    expect(types.has(m![1]!) || types.get(family) === "histogram", `a declared family for ${m![1]}`).toBe(true);
    samples.set(m![1]! + (m![2] ?? ""), Number(m![3]));
  }
  return samples;
}

describe("an operator's view", () => {
  let cluster: TestCluster;
  let masterHttp: number;

  beforeAll(async () => {
    cluster = await new TestCluster({
      chunkservers: 3, chunkSize: "1MiB",
      masterArgs: ["--http", "127.0.0.1:0", "--heartbeat", "300ms", "--dead-after", "2s"],
      chunkserverArgs: () => ["--http", "127.0.0.1:0"],
    }).start();
    masterHttp = await httpPort(cluster.master);
  });
  afterAll(async () => {
    await cluster?.stop();
    await stopAll();
  });

  test("/metrics on the master and on a chunk server parse as Prometheus text; request and byte counters grow after a put", async () => {
    const cs = cluster.chunkservers[0]!;
    const csHttp = await httpPort(cs);
    const scrape = async (port: number) => parsePrometheus(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    const before = await scrape(masterHttp);
    const csBefore = await scrape(csHttp);
    await cluster.gfs(["put", "-", "/m"], { stdin: randomBytes(3 * MiB, 5) });
    const after = await scrape(masterHttp);
    const csAfter = await scrape(csHttp);
    const created = 'gfs_master_requests_total{type="create",outcome="ok"}';
    expect(after.get(created) ?? 0).toBeGreaterThan(before.get(created) ?? 0);
    expect(after.get("gfs_master_files")).toBe((before.get("gfs_master_files") ?? 0) + 1);
    expect(after.get("gfs_master_chunks")).toBe((before.get("gfs_master_chunks") ?? 0) + 3);
    expect(after.get('gfs_master_chunkservers{state="up"}')).toBe(3);
    expect(after.get("gfs_master_log_commit_seconds_count")).toBeGreaterThan(0);
    expect(after.get('gfs_master_chunks_by_health{state="missing"}')).toBe(0);
    expect(after.has('gfs_master_chunks_by_health{state="under_replicated"}')).toBe(true);
    expect(after.get("process_resident_memory_bytes")).toBeGreaterThan(1_000_000);
    // Every replica holds every chunk of the file (3 servers, 3 replicas).
    expect(csAfter.get("gfs_chunkserver_written_bytes_total")! - (csBefore.get("gfs_chunkserver_written_bytes_total") ?? 0)).toBe(3 * MiB);
    expect(csAfter.get("gfs_chunkserver_chunks")).toBe((csBefore.get("gfs_chunkserver_chunks") ?? 0) + 3);
    // Every series the sample Grafana dashboard plots is one the daemons export.
    const exported = new Set([...after.keys(), ...csAfter.keys()].map((k) => k.replace(/\{.*$/, "")));
    const dashboard = await Bun.file(join(import.meta.dir, "../../deploy/grafana-dashboard.json")).text();
    for (const [name] of dashboard.matchAll(/\b(?:gfs|process)_[a-z_]+/g)) expect(exported.has(name), `${name} on /metrics`).toBe(true);
    // The RPC log: every request, its outcome, body and reply, without file data, as gfs rpc-log prints it.
    const rpcLine = (d: Daemon, re: RegExp) =>
      waitFor(`${re} in ${d.name}'s rpc.log`, async () => (await cluster.gfs(["rpc-log", d.dataDir], { check: false })).stdout.split("\n").find((l) => re.test(l)), 10_000, 200);
    expect(await rpcLine(cluster.master, / create ok [\d.]+ms \{"path":"\/\.put\/m\.\w+"/)).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z 127\.0\.0\.1:\d+ create ok [\d.]+ms \{.*\} -> \{.*\}$/);
    expect(await rpcLine(cs, / createChunk ok /)).toBeTruthy();
    // Pushed and read bytes are not in it: the chunk server's log is far smaller than the 3 MiB it stored.
    expect(Bun.file(join(cs.dataDir, "rpc.log")).size).toBeLessThan(256 * 1024);
  });

  test("the status page in headless Chromium lists every chunk server, then shows a SIGKILLed one lost within a few heartbeats", async () => {
    const shots = join(import.meta.dir, "..", "artifacts");
    mkdirSync(shots, { recursive: true });
    const shot = join(shots, "status-page.png");
    const driver = Bun.spawn(["node", join(import.meta.dir, "..", "helpers", "status-page-browser.mjs"), `http://127.0.0.1:${masterHttp}/`, shot, JSON.stringify(cluster.chunkservers.map((d) => d.addr))], {
      stdin: "pipe", stdout: "pipe", stderr: "pipe", cwd: join(import.meta.dir, "..", ".."),
    });
    const timer = setTimeout(() => driver.kill("SIGKILL"), 90_000);
    const reader = driver.stdout.getReader();
    let buf = "";
    const next = async (): Promise<any> => {
      for (;;) {
        const nl = buf.indexOf("\n");
        if (nl >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          return JSON.parse(line);
        }
        const { value, done } = await reader.read();
        if (done) throw new Error(`the browser driver ended: ${await new Response(driver.stderr).text()}`);
        buf += new TextDecoder().decode(value);
      }
    };
    try {
      const listed = await next();
      expect(listed).toMatchObject({ step: "listed", title: "gfs status", rows: 3, errors: [] });
      const victim = cluster.chunkservers[2]!;
      await cluster.kill(victim);
      driver.stdin.write(`lost ${victim.addr}\n`);
      driver.stdin.flush();
      const lost = await next();
      expect(lost).toMatchObject({ step: "lost", address: victim.addr, errors: [] });
      expect(lost.text).toContain("lost since");
      expect(lost.ms).toBeLessThan(10_000); // --dead-after 2s, page refresh every 2 s
      driver.stdin.write("shot\n");
      driver.stdin.flush();
      expect(await next()).toMatchObject({ step: "shot" });
      expect(Bun.file(shot).size).toBeGreaterThan(10_000);
      driver.stdin.write("quit\n");
      driver.stdin.end();
      expect(await driver.exited).toBe(0);
    } finally {
      clearTimeout(timer);
      if (driver.exitCode === null) driver.kill("SIGKILL");
    }
    // The lost server is an event too.
    const events = await cluster.gfs(["events", "--json"]);
    const lines = events.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.some((e) => e.level === "warn" && e.text.includes(`chunk server ${cluster.chunkservers[2]!.addr}`) && e.text.includes("lost"))).toBe(true);
  }, 120_000);
});
