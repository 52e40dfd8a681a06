import test from 'ava';
import { DeadlineSignals } from '../../src/server/deadline-signals.js';
import { sleep } from '../harness/wait.js';

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
  t.deepEqual(
    warnings.map((w) => w.name),
    [],
  );
});

test('the deadline counts from the arrival: a late signal aborts at arrival + deadline, one past it is aborted already', (t) => {
  const now = 10_000;
  const d = new DeadlineSignals(1000, { windowMs: 25, now: () => now });
  t.false(d.next(now - 999).aborted, '1 ms left');
  const late = d.next(now - 1000);
  t.true(late.aborted, 'nothing left');
  t.is((late.reason as DOMException).name, 'TimeoutError');
  t.true(d.next(now - 5000).aborted);
});

test('a late arrival gets a signal of its own and leaves the shared window alone', (t) => {
  let now = 10_000;
  const d = new DeadlineSignals(1000, { windowMs: 25, now: () => now });
  const shared = d.next();
  now += 10;
  const slow = d.next(now - 500);
  t.not(slow, shared, 'arrived before the window: its own deadline');
  t.is(d.next(), shared, 'the window still holds for arrivals in it');
});

test('a signal for an earlier arrival aborts when its own deadline passes, not a full deadline later', async (t) => {
  // Seconds, not milliseconds: a busy machine can stall a test's event loop for a
  // quarter second, and what is tested is 0.5 s left against a full 2 s deadline.
  const d = new DeadlineSignals(2000);
  const started = performance.now();
  const signal = d.next(started - 1500);
  const keepAlive = setTimeout(() => {}, 5000);
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  clearTimeout(keepAlive);
  const waited = performance.now() - started;
  t.true(waited >= 490 && waited < 1500, `aborted after ${waited.toFixed(1)} ms (500 ms were left)`);
});
