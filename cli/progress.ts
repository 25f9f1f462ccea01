// Progress on long transfers, only when stderr is a terminal and not --quiet
// (O4): bytes, percentage, rate and time left, redrawn five times a second.
export async function* progress(source: AsyncIterable<Uint8Array>, label: string, totalBytes?: number, quiet = false): AsyncGenerator<Uint8Array> {
  if (!process.stderr.isTTY || quiet) {
    yield* source;
    return;
  }
  const start = performance.now();
  let done = 0;
  let last = 0;
  const show = (final: boolean) => {
    const secs = (performance.now() - start) / 1000;
    const mb = done / 1e6;
    const pct = totalBytes ? ` ${Math.floor((done / totalBytes) * 100)}%` : "";
    const rate = mb / Math.max(secs, 0.001);
    const left = totalBytes && !final && rate > 0 ? `, ${formatEta((totalBytes - done) / 1e6 / rate)} left` : "";
    process.stderr.write(`\r\x1b[K${label}: ${mb.toFixed(1)} MB${pct} ${rate.toFixed(1)} MB/s${left}${final ? "\n" : ""}`);
  };
  for await (const chunk of source) {
    done += chunk.byteLength;
    const now = performance.now();
    if (now - last > 200) {
      last = now;
      show(false);
    }
    yield chunk;
  }
  show(true);
}

function formatEta(secs: number): string {
  if (secs < 60) return `${Math.ceil(secs)} s`;
  if (secs < 3600) return `${Math.floor(secs / 60)} min ${Math.ceil(secs % 60)} s`;
  return `${Math.floor(secs / 3600)} h ${Math.ceil((secs % 3600) / 60)} min`;
}
