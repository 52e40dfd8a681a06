import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlineSignals } from '../../src/server/deadline-signals.js';

test('admissions in one window share a signal; the next window gets a new one', (t) => {
  let now = 1000;
  const d = new DeadlineSignals(4000, { windowMs: 25, now: () => now });
  const a = d.next();
  now += 24;
  t.is(d.next(), a, 'same window');
  now += 1;
  const b = d.next();
  t.not(b, a, 'a window is never longer than windowMs, so no admission loses more than that');
  t.false(a.aborted);
});

test('the window is at most a twentieth of the deadline', (t) => {
  let now = 0;
  const d = new DeadlineSignals(100, { windowMs: 25, now: () => now });
  const a = d.next();
  now += 5;
  t.not(d.next(), a, '100 ms deadline: 5 ms windows, not 25');
});

test('a signal aborts with a TimeoutError no later than the deadline', async (t) => {
  const d = new DeadlineSignals(60);
  const started = performance.now();
  const signal = d.next();
  const keepAlive = setTimeout(() => {}, 1000); // the deadline's own timer is unref'd
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  clearTimeout(keepAlive);
  const waited = performance.now() - started;
  t.true(waited >= 55, `aborted after ${waited.toFixed(1)} ms`);
  t.is((signal.reason as DOMException).name, 'TimeoutError');
});

test('many listeners on a shared signal are not reported as a leak', async (t) => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  const signal = new DeadlineSignals(4000).next();
  const listeners = Array.from({ length: 50 }, () => () => {});
  for (const l of listeners) signal.addEventListener('abort', l);
  await sleep(10);
  process.off('warning', onWarning);
  for (const l of listeners) signal.removeEventListener('abort', l);
  t.deepEqual(warnings.map((w) => w.name), []);
});
