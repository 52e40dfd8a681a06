// Load generators. Closed loop (`runLoad`): `concurrency` workers each send one request
// at a time, which finds the most a server sustains. Open loop (`runRate`): requests at
// a fixed rate whatever the answers, which shows latency at a given load. Percentiles
// are exact (all samples kept).
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

function summarize(latencies: number[], errors: number, seconds: number, outcomes: Record<string, number>): LoadResult {
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

export async function runLoad(o: {
  concurrency: number;
  durationMs: number;
  warmupMs?: number;
  send: Send;
}): Promise<LoadResult> {
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
  return summarize(latencies, errors, seconds, outcomes);
}

/**
 * Sends `rate` requests a second for `durationMs`, each at its scheduled time. Latency
 * counts from the scheduled time, so a late generator or a server that falls behind
 * shows up in the percentiles instead of being hidden (no coordinated omission).
 * Requests past `maxInFlight` are not sent and count as errors ("overloaded").
 */
export async function runRate(o: {
  rate: number;
  durationMs: number;
  warmupMs?: number;
  send: Send;
  maxInFlight?: number;
}): Promise<LoadResult> {
  const latencies: number[] = [];
  const outcomes: Record<string, number> = {};
  const maxInFlight = o.maxInFlight ?? 1000;
  const intervalMs = 1000 / o.rate;
  let errors = 0;
  const pending = new Set<Promise<void>>();
  const started = performance.now();
  const warmupEnd = started + (o.warmupMs ?? 0);
  const end = warmupEnd + o.durationMs;
  const count = (scheduled: number, outcome: string) => {
    if (scheduled < warmupEnd) return;
    latencies.push(performance.now() - scheduled);
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  };
  let seq = 0;
  let next = started;
  while (next < end) {
    const now = performance.now();
    for (; next <= now && next < end; next += intervalMs) {
      const scheduled = next;
      if (pending.size >= maxInFlight) {
        errors++;
        if (scheduled >= warmupEnd) outcomes.overloaded = (outcomes.overloaded ?? 0) + 1;
        continue;
      }
      const p: Promise<void> = o
        .send(0, seq++)
        .then(
          (outcome) => count(scheduled, outcome),
          (err: Error) => {
            errors++;
            count(scheduled, `error:${err.message.slice(0, 40)}`);
          },
        )
        .finally(() => pending.delete(p));
      pending.add(p);
    }
    await new Promise((r) => setTimeout(r, Math.max(0, Math.min(1, next - performance.now()))));
  }
  await Promise.all(pending);
  return summarize(latencies, errors, o.durationMs / 1000, outcomes);
}

export const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(v < 10 ? 2 : 1) : '–');
export const rate = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : '–');
