import test from 'ava';
import { Registry } from 'prom-client';
import { EVENT_LOOP_BUCKETS, createMetrics } from '../../src/metrics.js';
import { countsAtOrUnder, eventLoopDelay } from '../../src/server/event-loop-delay.js';
import { sleep } from '../harness/wait.js';

const busy = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

async function histogram(metrics: ReturnType<typeof createMetrics>) {
  const [m] = (await metrics.registry.getMetricsAsJSON()).filter(
    (x) => x.name === 'leaseguard_event_loop_delay_seconds',
  );
  const values = (m?.values ?? []) as Array<{ value: number; labels: Record<string, unknown>; metricName?: string }>;
  const bucket = (le: number) =>
    values.find((v) => v.metricName?.endsWith('_bucket') && v.labels.le === le)?.value ?? 0;
  const count = values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
  return { bucket, count, late: count - bucket(0.25) };
}

test('a blocked event loop shows in leaseguard_event_loop_delay_seconds; an idle one does not', async (t) => {
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const delay = eventLoopDelay(metrics.eventLoopDelay, EVENT_LOOP_BUCKETS, { resolutionMs: 20, drainMs: 100 });
  delay.start();
  t.teardown(() => delay.stop());
  await sleep(350);
  const idle = await histogram(metrics);
  t.true(idle.count >= 5, `samples drained while idle: ${idle.count}`);
  t.is(idle.late, 0, 'no idle sample was 250 ms late');
  // The monitor's own interval (20 ms here) is not delay: an idle loop is mostly under 10 ms late.
  t.true(idle.bucket(0.01) >= idle.count * 0.8, `idle samples within 10 ms: ${idle.bucket(0.01)} of ${idle.count}`);
  busy(400);
  await sleep(250);
  const after = await histogram(metrics);
  // The sample due during the 400 ms block ran at least 350 ms late: beyond the 0.25 s bucket.
  t.true(after.late >= 1, `samples later than 250 ms: ${after.late}`);
  t.true(after.count > idle.count, 'the histogram only grows');
  delay.stop();
  const stopped = (await histogram(metrics)).count;
  await sleep(200);
  t.is((await histogram(metrics)).count, stopped, 'no samples after stop');
});

test('countsAtOrUnder turns the native percentiles into counts at or under each bound', (t) => {
  const ms = (n: number) => n * 1e6;
  // 100 samples of a 100 ms monitor: 90 intervals ≤ 102 ms (delays ≤ 2 ms), 99 ≤ 130 ms, the last 500 ms.
  const native = {
    count: 100,
    percentiles: new Map([
      [0, ms(101)],
      [90, ms(102)],
      [99, ms(130)],
      [100, ms(500)],
    ]),
  };
  t.deepEqual(countsAtOrUnder(native, [0.001, 0.0025, 0.025, 0.05, 0.5], 100), [0, 90, 90, 99, 100]);
});
