// Rounds to one figure: the median over rounds with its spread (min–max), so one noisy
// round on a shared machine shows as spread instead of moving the figure.
export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: number[]): Spread {
  const xs = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (xs.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const mid = Math.floor(xs.length / 2);
  const median = xs.length % 2 === 1 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
  return { median, min: xs[0]!, max: xs[xs.length - 1]!, n: xs.length };
}

/** "5.41 (4.90–6.02)"; one round: the value alone. */
export function show(s: Spread, digits = 2): string {
  if (s.n === 0) return '–';
  const f = (v: number) => v.toFixed(digits);
  return s.n === 1 ? f(s.median) : `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}

/** A Prometheus histogram's cumulative counts by upper bound (`le`), +Inf last. */
export type Buckets = Array<{ le: number; count: number }>;

export function bucketsOf(page: string, name: string): Buckets {
  const out: Buckets = [];
  for (const line of page.split('\n')) {
    const m = new RegExp(`^${name}_bucket\\{(?:.*,)?le="([^"]+)"[^}]*\\} (\\S+)`).exec(line);
    if (m) out.push({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), count: Number(m[2]) });
  }
  return out.sort((a, b) => a.le - b.le);
}

/**
 * The q-quantile of the observations made between two reads of one histogram, by linear
 * interpolation inside its bucket (as PromQL's histogram_quantile); NaN with no observations.
 */
export function bucketQuantile(before: Buckets, after: Buckets, q: number): number {
  const delta = after.map((b, i) => ({ le: b.le, count: b.count - (before[i]?.count ?? 0) }));
  const total = delta.at(-1)?.count ?? 0;
  if (total <= 0) return NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of delta) {
    if (b.count >= rank) {
      if (b.le === Infinity) return lower;
      return lower + ((b.le - lower) * (rank - below)) / Math.max(1, b.count - below);
    }
    lower = b.le;
    below = b.count;
  }
  return lower;
}
