// Progress on long transfers, only when stderr is a terminal (O4).
export async function* progress(source: AsyncIterable<Uint8Array>, label: string, totalBytes?: number): AsyncGenerator<Uint8Array> {
  if (!process.stderr.isTTY) {
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
    process.stderr.write(`\r${label}: ${mb.toFixed(1)} MB${pct} ${(mb / Math.max(secs, 0.001)).toFixed(1)} MB/s${final ? "\n" : ""}`);
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
