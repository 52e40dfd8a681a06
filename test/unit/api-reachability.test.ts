// The API-reachability readiness condition: consecutive failed probes fail it, the first
// success restores it, a refusal is an answer, and an admission that could not reach the
// API server fails it at once.
import test from 'ava';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { ErrorCodes, LeaseguardError } from '../../src/errors.js';
import { createMetrics } from '../../src/metrics.js';
import { API_CHECK, ApiReachability } from '../../src/server/api-reachability.js';
import { Readiness } from '../../src/readiness.js';
import { sleep } from '../harness/wait.js';

const unreachable = () =>
  new LeaseguardError(
    ErrorCodes.STORE_UNAVAILABLE,
    'list Leases in lg: the API server could not be reached (ECONNRESET)',
    { statusCode: 503 },
  );
const timedOut = () =>
  new LeaseguardError(
    ErrorCodes.STORE_TIMEOUT,
    'list Leases in lg: the API server did not answer before the deadline',
    { statusCode: 504 },
  );
const forbidden = () =>
  new LeaseguardError(ErrorCodes.STORE_FORBIDDEN, 'list Leases in lg: forbidden', { statusCode: 403 });

/** A monitor whose probe answers from a script: 'ok', or an error to throw. */
function setup(o: { failureThreshold?: number; intervalMs?: number } = {}) {
  const readiness = new Readiness();
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const answers: Array<'ok' | Error | 'hang' | Promise<unknown>> = [];
  let clock = 0;
  const r = new ApiReachability({
    probe: (signal) => {
      const next = answers.shift() ?? 'ok';
      if (next === 'hang')
        return new Promise((_, reject) => signal.addEventListener('abort', () => reject(timedOut()), { once: true }));
      if (next instanceof Promise) return next;
      return next === 'ok' ? Promise.resolve({}) : Promise.reject(next);
    },
    readiness,
    gauge: metrics.apiServerReachable,
    logger: pino({ level: 'silent' }),
    intervalMs: o.intervalMs ?? 1000,
    failureThreshold: o.failureThreshold ?? 2,
    now: () => clock,
  });
  const gauge = async () => (await metrics.apiServerReachable.get()).values[0]?.value;
  return { r, readiness, answers, gauge, tick: (ms = 1) => (clock += ms) };
}

test('not ready before the first probe; the first probe that reaches the API server makes it ready', async (t) => {
  const { r, readiness, gauge } = setup();
  t.false(readiness.ready());
  t.is(readiness.state().checks[API_CHECK]?.message, 'not probed yet');
  t.true(readiness.state().checks[API_CHECK]?.critical);
  t.is(await gauge(), 0);
  t.true(await r.probeOnce());
  t.true(readiness.ready());
  t.is(await gauge(), 1);
});

test('fails after failureThreshold consecutive failed probes, not before; recovers on the first success', async (t) => {
  const { r, readiness, answers, gauge } = setup({ failureThreshold: 3 });
  await r.probeOnce();
  answers.push(unreachable(), timedOut());
  t.false(await r.probeOnce());
  t.false(await r.probeOnce());
  t.true(readiness.ready(), 'two failures of three: a blip does not flap readiness');
  answers.push(unreachable());
  t.false(await r.probeOnce());
  t.false(readiness.ready());
  t.regex(
    readiness.state().checks[API_CHECK]?.message ?? '',
    /cannot reach the API server \(3 probes failed\): .*ECONNRESET/,
  );
  t.is(await gauge(), 0);
  t.true(await r.probeOnce());
  t.true(readiness.ready(), 'one success restores it');
  t.is(await gauge(), 1);
});

test('a success between failures starts the count again', async (t) => {
  const { r, readiness, answers } = setup({ failureThreshold: 2 });
  answers.push('ok', unreachable(), 'ok', unreachable(), 'ok');
  for (let i = 0; i < 5; i++) await r.probeOnce();
  t.true(readiness.ready());
});

test('a refusal (403) is an answer: the API server is reachable, readiness holds', async (t) => {
  const { r, readiness, answers } = setup({ failureThreshold: 1 });
  answers.push(forbidden(), forbidden());
  t.true(await r.probeOnce());
  t.true(await r.probeOnce());
  t.true(readiness.ready());
});

test('a probe that does not answer within the interval has failed', async (t) => {
  const { r, readiness, answers } = setup({ failureThreshold: 1, intervalMs: 50 });
  await r.probeOnce();
  answers.push('hang');
  const started = performance.now();
  t.false(await r.probeOnce());
  t.true(performance.now() - started < 1000);
  t.false(readiness.ready());
});

test('an admission refused because the API server was unreachable fails readiness at once; the next probe that reaches it restores it', async (t) => {
  const { r, readiness, answers, gauge, tick } = setup({ failureThreshold: 3 });
  await r.probeOnce();
  tick();
  r.admissionFailed(timedOut());
  t.false(readiness.ready(), 'failed by one admission, without waiting for three probes');
  t.regex(readiness.state().checks[API_CHECK]?.message ?? '', /an admission could not reach the API server/);
  t.is(await gauge(), 0);
  tick();
  answers.push(unreachable());
  await r.probeOnce();
  t.false(readiness.ready(), 'a failed probe keeps it failing');
  tick();
  await r.probeOnce();
  t.true(readiness.ready());
  tick();
  r.admissionFailed(unreachable());
  t.false(readiness.ready());
});

test('other failures of an admission (refused, conflicts, a full store) leave readiness alone', async (t) => {
  const { r, readiness } = setup();
  await r.probeOnce();
  for (const code of [
    ErrorCodes.STORE_FORBIDDEN,
    ErrorCodes.STORE_INVALID,
    ErrorCodes.LOCK_CONTENDED,
    ErrorCodes.STORE_FULL,
    ErrorCodes.STORE_CONFLICT,
  ]) {
    r.admissionFailed(new LeaseguardError(code, code));
  }
  r.admissionFailed(new Error('a bug'));
  t.true(readiness.ready());
});

test('a probe begun before an admission failed does not restore readiness when it answers; one begun after does', async (t) => {
  const { r, readiness, answers, tick } = setup();
  await r.probeOnce();
  let answer!: () => void;
  answers.push(new Promise<void>((resolve) => (answer = resolve)));
  tick();
  const early = r.probeOnce();
  tick();
  r.admissionFailed(unreachable());
  answer();
  await early;
  t.false(readiness.ready(), 'its answer may have left the API server before the admission failed');
  tick();
  await r.probeOnce();
  t.true(readiness.ready());
});

test('running: probes every interval, calls whileUnreachable while failing, stops when told', async (t) => {
  const readiness = new Readiness();
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  let calls = 0;
  let failing = true;
  const r = new ApiReachability({
    probe: () => (calls++, failing ? Promise.reject(unreachable()) : Promise.resolve()),
    readiness,
    gauge: metrics.apiServerReachable,
    logger: pino({ level: 'silent' }),
    intervalMs: 20,
    failureThreshold: 2,
  });
  let closes = 0;
  r.start(() => closes++);
  await sleep(150);
  t.false(readiness.ready());
  t.true(calls >= 4, `probed ${calls} times in 150 ms at a 20 ms interval`);
  t.true(closes >= 2, 'idle connections closed while unreachable');
  failing = false;
  await sleep(60);
  t.true(readiness.ready());
  const closed = closes;
  r.stop();
  const after = calls;
  await sleep(60);
  t.is(calls, after, 'no probe after stop');
  t.is(closes, closed, 'nothing closed while reachable');
});
