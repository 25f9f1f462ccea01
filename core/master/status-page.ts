// The status page the master serves at / with --http: one self-contained
// HTML document (no build step, nothing fetched from elsewhere) that reads
// /status.json every 2 seconds and draws the cluster's health, its chunk
// servers, repairs, recent events and the last hour's rates.
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gfs status</title>
<style>
  :root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --line: #d0d7de; --muted: #57606a; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
  header { background: #24292f; color: #fff; padding: 10px 20px; display: flex; gap: 24px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  main { padding: 16px 20px; display: grid; gap: 16px; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); }
  section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
  th { color: var(--muted); font-weight: 600; }
  .state-up { color: var(--ok); font-weight: 600; }
  .state-lost { color: var(--bad); font-weight: 600; }
  .state-draining { color: var(--warn); font-weight: 600; }
  .bar { width: 140px; height: 10px; background: #eaeef2; border-radius: 5px; display: inline-block; vertical-align: middle; overflow: hidden; }
  .bar > i { display: block; height: 100%; background: #0969da; }
  .healthy { color: var(--ok); } .unhealthy { color: var(--bad); }
  .counts { display: grid; grid-template-columns: repeat(3, 1fr); gap: 6px 16px; }
  .counts b { display: block; font-size: 18px; }
  .events { font: 12px/1.5 ui-monospace, monospace; max-height: 320px; overflow: auto; }
  .events .warn { color: var(--warn); } .events .error { color: var(--bad); }
  svg { width: 100%; height: 120px; background: #fbfcfd; border: 1px solid var(--line); }
  .legend span { margin-right: 12px; } .muted { color: var(--muted); }
</style>
</head>
<body>
<header><h1>gfs</h1><span id="master"></span><span id="health"></span><span id="updated" class="muted"></span></header>
<main>
  <section><h2>Health</h2><div class="counts" id="counts"></div></section>
  <section><h2>Repairs</h2><div class="counts" id="repairs"></div></section>
  <section class="wide"><h2>Chunk servers</h2>
    <table><thead><tr><th>address</th><th>rack</th><th>state</th><th>disk</th><th>chunks</th><th>last heartbeat</th></tr></thead><tbody id="servers"></tbody></table>
  </section>
  <section><h2>Throughput (last hour)</h2><svg id="bytes" viewBox="0 0 600 120" preserveAspectRatio="none"></svg>
    <div class="legend"><span style="color:#0969da">read</span><span style="color:#1a7f37">written</span><span style="color:#9a6700">re-replicated</span><span id="bytesMax" class="muted"></span></div></section>
  <section><h2>Operations (last hour)</h2><svg id="ops" viewBox="0 0 600 120" preserveAspectRatio="none"></svg>
    <div class="legend"><span style="color:#8250df">requests to the master</span><span id="opsMax" class="muted"></span></div></section>
  <section class="wide"><h2>Recent events</h2><div class="events" id="events"></div></section>
</main>
<script>
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
function bytes(n) { const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return (i ? n.toFixed(1) : n) + " " + u[i]; }
function ago(ms) { return ms < 1000 ? ms + " ms" : ms < 120000 ? (ms / 1000).toFixed(1) + " s" : Math.round(ms / 60000) + " min"; }
function line(points, key, max, color) {
  if (points.length < 2) return "";
  const t0 = points[0].timeMs, t1 = points[points.length - 1].timeMs || t0 + 1;
  const xy = points.map((p) => ((p.timeMs - t0) / Math.max(1, t1 - t0) * 600).toFixed(1) + "," + (118 - (p[key] / max) * 110).toFixed(1));
  return '<polyline fill="none" stroke="' + color + '" stroke-width="2" points="' + xy.join(" ") + '"/>';
}
function render(s) {
  const m = s.master;
  $("master").textContent = "master " + m.address + " (" + m.role + (m.role === "single" ? "" : ", epoch " + m.epoch + (m.role === "standby" ? ", " + ago(m.lagMs) + " behind the log" + (m.leader ? ", leader " + m.leader : "") : "")) + ")";
  const h = s.health;
  $("health").innerHTML = h.healthy ? '<span class="healthy">healthy</span>' : '<span class="unhealthy">needs attention</span>';
  $("updated").textContent = "updated " + new Date(s.timeMs).toLocaleTimeString();
  const c = [["files", h.files], ["chunks", h.chunks], ["bytes", bytes(h.bytes)], ["under-replicated", h.underReplicated], ["missing", h.missing], ["damaged", h.corrupt],
    ["over-replicated", h.overReplicated], ["one rack only", h.misplaced], ["awaiting deletion", h.stale]];
  $("counts").innerHTML = c.map(([k, v]) => "<div><b>" + esc(v) + "</b>" + k + "</div>").join("");
  $("repairs").innerHTML = [["copies under way", s.repairs.cloning], ["copies done", s.repairs.clones], ["bytes copied", bytes(s.repairs.bytes)], ["copies failed", s.repairs.failed]]
    .map(([k, v]) => "<div><b>" + esc(v) + "</b>" + k + "</div>").join("");
  $("servers").innerHTML = s.chunkservers.map((x) => {
    const state = !x.alive ? "lost" : x.draining ? "draining" : "up";
    const pct = x.capacityBytes ? Math.min(100, (x.usedBytes / x.capacityBytes) * 100) : 0;
    const since = x.lostAtMs ? " since " + new Date(x.lostAtMs).toLocaleTimeString() : "";
    return '<tr data-address="' + esc(x.addr) + '" data-state="' + state + '"><td>' + esc(x.addr) + "</td><td>" + esc(x.rack) + '</td><td class="state-' + state + '">' + state + esc(since) +
      '</td><td><span class="bar"><i style="width:' + pct.toFixed(1) + '%"></i></span> ' + bytes(x.usedBytes) + " / " + bytes(x.capacityBytes) + "</td><td>" + x.chunks + "</td><td>" + ago(x.lastHeartbeatMsAgo) + " ago</td></tr>";
  }).join("");
  const hist = s.history;
  const bmax = Math.max(1, ...hist.map((p) => Math.max(p.readBytesPerSec, p.writtenBytesPerSec, p.clonedBytesPerSec)));
  $("bytes").innerHTML = line(hist, "readBytesPerSec", bmax, "#0969da") + line(hist, "writtenBytesPerSec", bmax, "#1a7f37") + line(hist, "clonedBytesPerSec", bmax, "#9a6700");
  $("bytesMax").textContent = "top: " + bytes(bmax) + "/s";
  const omax = Math.max(1, ...hist.map((p) => p.requestsPerSec));
  $("ops").innerHTML = line(hist, "requestsPerSec", omax, "#8250df");
  $("opsMax").textContent = "top: " + omax.toFixed(0) + "/s";
  $("events").innerHTML = s.events.slice().reverse().map((e) => '<div class="' + esc(e.level) + '">' + new Date(e.timeMs).toLocaleTimeString() + " " + esc(e.level) + " " + esc(e.tag) + ": " + esc(e.text) + "</div>").join("");
}
async function refresh() {
  try { render(await (await fetch("/status.json", { cache: "no-store" })).json()); }
  catch (err) { $("updated").textContent = "master unreachable: " + err.message; }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
`;
