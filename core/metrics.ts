// Metrics in the Prometheus text format (version 0.0.4), written by hand:
// counters and histograms with labels, and gauges read when scraped. Names
// follow Prometheus conventions (gfs_..._total, _seconds, _bytes).

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** A label set's identity: callers give a metric's labels in one order, so no sorting (this runs per request). */
function key(labels: Labels): string {
  let k = "";
  for (const name in labels) k += `${name}\u0000${labels[name]}\u0001`;
  return k;
}

interface Metric {
  render(): string;
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();

  constructor(readonly name: string, readonly help: string) {}

  inc(labels: Labels = {}, by = 1): void {
    this.cell(labels).value += by;
  }

  /** The value of one label set, to be counted on directly (a caller that counts per request keeps it). */
  cell(labels: Labels): { value: number } {
    const k = key(labels);
    let v = this.values.get(k);
    if (!v) this.values.set(k, (v = { labels, value: 0 }));
    return v;
  }

  get(labels: Labels = {}): number {
    return this.values.get(key(labels))?.value ?? 0;
  }

  /** The sum over every label set. */
  total(): number {
    let n = 0;
    for (const v of this.values.values()) n += v.value;
    return n;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.values.size === 0) lines.push(`${this.name} 0`);
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${value}`);
    return lines.join("\n");
  }
}

/** Latency buckets in seconds, from 0.1 ms to 10 s. */
export const LATENCY_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

interface HistogramSeries {
  labels: Labels;
  /** Observations per bucket (not cumulative). */
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram implements Metric {
  private readonly series = new Map<string, HistogramSeries>();

  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[] = LATENCY_BUCKETS) {}

  observe(value: number, labels: Labels = {}): void {
    this.observeIn(this.seriesOf(labels), value);
  }

  /** One label set's series, to be observed into directly (a caller that observes per request keeps it). */
  seriesOf(labels: Labels): HistogramSeries {
    const k = key(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { labels, counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 }));
    return s;
  }

  /** Counts `value` in its bucket alone; render() makes the counts cumulative, as Prometheus wants. */
  observeIn(s: HistogramSeries, value: number): void {
    let i = 0;
    while (i < this.buckets.length && value > this.buckets[i]!) i++;
    if (i < this.buckets.length) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      let below = 0;
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(b) })} ${(below += s.counts[i]!)}`));
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: "+Inf" })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines.join("\n");
  }
}

/** A value read when scraped, optionally one per label set: a gauge, or a counter kept elsewhere. */
export class Gauge implements Metric {
  constructor(readonly name: string, readonly help: string, private readonly read: () => number | [Labels, number][], private readonly kind: "gauge" | "counter" = "gauge") {}

  render(): string {
    const v = this.read();
    const rows = typeof v === "number" ? [[{}, v] as [Labels, number]] : v;
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.kind}`, ...rows.map(([l, n]) => `${this.name}${labelText(l)} ${n}`)].join("\n");
  }
}

export class MetricsRegistry {
  private readonly metrics: Metric[] = [];
  /** Requests served, by type and outcome (ok or an error code). */
  readonly requests: Counter;
  readonly requestSeconds: Histogram;
  private lagMs = 0;

  constructor(readonly prefix: string) {
    this.requests = this.counter(`${prefix}_requests_total`, "Requests served, by type and outcome (ok or the error code)");
    this.requestSeconds = this.histogram(`${prefix}_request_duration_seconds`, "Time to serve a request, by type");
    this.gauge("process_resident_memory_bytes", "Resident set size", () => process.memoryUsage.rss());
    this.gauge(`${prefix}_event_loop_lag_seconds`, "How late a timer due every 500 ms last fired", () => this.lagMs / 1000);
    let due = Date.now() + 500;
    setInterval(() => {
      const now = Date.now();
      this.lagMs = Math.max(0, now - due);
      due = now + 500;
    }, 500).unref?.();
  }

  counter(name: string, help: string): Counter {
    const c = new Counter(name, help);
    this.metrics.push(c);
    return c;
  }

  histogram(name: string, help: string, buckets?: readonly number[]): Histogram {
    const h = new Histogram(name, help, buckets);
    this.metrics.push(h);
    return h;
  }

  gauge(name: string, help: string, read: () => number | [Labels, number][], kind: "gauge" | "counter" = name.endsWith("_total") ? "counter" : "gauge"): Gauge {
    const g = new Gauge(name, help, read, kind);
    this.metrics.push(g);
    return g;
  }

  /** Per request type: its duration series and its counters by outcome, found without building a label key. */
  private readonly servedCells = new Map<string, { seconds: HistogramSeries; outcomes: Map<string, { value: number }> }>();

  /** For PeerOptions.onServed: runs once per request served. */
  served(type: string, outcome: string, ms: number): void {
    let t = this.servedCells.get(type);
    if (!t) this.servedCells.set(type, (t = { seconds: this.requestSeconds.seriesOf({ type }), outcomes: new Map() }));
    let c = t.outcomes.get(outcome);
    if (!c) t.outcomes.set(outcome, (c = this.requests.cell({ type, outcome })));
    c.value++;
    this.requestSeconds.observeIn(t.seconds, ms / 1000);
  }

  render(): string {
    return this.metrics.map((m) => m.render()).join("\n") + "\n";
  }
}
