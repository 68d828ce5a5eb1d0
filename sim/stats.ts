/** Figures of a run: percentiles of durations, rates, and the throughput of location points. */

export interface Summary {
  count: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
  mean: number | null;
}

/** The q-quantile (0..1) of values by the nearest-rank method; null for no values. */
export function percentile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile ${q} is not between 0 and 1`);
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1]!;
}

/** Count, p50/p95/p99, max and mean of some values (milliseconds in this report). */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { count: 0, p50: null, p95: null, p99: null, max: null, mean: null };
  return {
    count: values.length,
    p50: percentile(values, 0.5),
    p95: percentile(values, 0.95),
    p99: percentile(values, 0.99),
    max: Math.max(...values),
    mean: Math.round(values.reduce((a, b) => a + b, 0) / values.length),
  };
}

/** part / whole as a fraction rounded to 4 places; null when whole is 0. */
export function rate(part: number, whole: number): number | null {
  return whole === 0 ? null : Math.round((part / whole) * 10_000) / 10_000;
}

/**
 * Events per second over a sliding window: `add` when they happen, `perSecond` reads the
 * rate over the last windowMs (for the progress line).
 */
export class RateMeter {
  private readonly stamps: number[] = [];
  constructor(private readonly windowMs = 5000) {}

  add(count: number, at = Date.now()): void {
    for (let i = 0; i < count; i++) this.stamps.push(at);
  }

  perSecond(at = Date.now()): number {
    const from = at - this.windowMs;
    while (this.stamps.length > 0 && this.stamps[0]! < from) this.stamps.shift();
    return this.stamps.length / (this.windowMs / 1000);
  }
}

/** "1.2 s", "850 ms", "–" for a duration in ms. */
export function formatMs(ms: number | null): string {
  if (ms === null) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

/** A plain text table with aligned columns. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
