// A closed-loop load generator: `concurrency` workers each send one request at a time
// for `durationMs`, recording every latency. Percentiles are exact (all samples kept).
export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  throughput: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** Outcome label → count (e.g. "allowed", "409"). */
  outcomes: Record<string, number>;
}

export type Send = (worker: number, seq: number) => Promise<string>;

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

export async function runLoad(o: { concurrency: number; durationMs: number; warmupMs?: number; send: Send }): Promise<LoadResult> {
  const latencies: number[] = [];
  const outcomes: Record<string, number> = {};
  let errors = 0;
  let seq = 0;
  const warmupEnd = performance.now() + (o.warmupMs ?? 0);
  const end = warmupEnd + o.durationMs;
  const worker = async (w: number) => {
    while (performance.now() < end) {
      const start = performance.now();
      let outcome: string;
      try {
        outcome = await o.send(w, seq++);
      } catch (err) {
        outcome = `error:${(err as Error).message.slice(0, 40)}`;
        errors++;
      }
      if (start >= warmupEnd) {
        latencies.push(performance.now() - start);
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: o.concurrency }, (_, w) => worker(w)));
  const seconds = (performance.now() - Math.max(started, warmupEnd)) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    errors,
    seconds,
    throughput: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    max: latencies[latencies.length - 1] ?? NaN,
    outcomes,
  };
}

export const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(v < 10 ? 2 : 1) : '–');
export const rate = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : '–');
