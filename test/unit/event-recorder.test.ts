// Events aggregated and rate-limited like client-go's recorder: a storm is a few writes.
import test from 'ava';
import { pino } from 'pino';
import type { CoreV1Api } from '@kubernetes/client-node';
import { KubeEventRecorder, type LeaseguardEvent } from '../../src/kube/event-recorder.js';
import { sleep } from '../harness/wait.js';

function fakeCore() {
  const calls: Array<{ verb: 'create' | 'patch'; name: string; body: unknown }> = [];
  const core = {
    createNamespacedEvent: async (p: { namespace: string; body: { metadata: { name: string } } }) => {
      calls.push({ verb: 'create', name: p.body.metadata.name, body: p.body });
      return p.body;
    },
    patchNamespacedEvent: async (p: { name: string; body: unknown }) => {
      calls.push({ verb: 'patch', name: p.name, body: p.body });
      return {};
    },
  } as unknown as CoreV1Api;
  return { core, calls };
}

const event = (message = 'two objects hold k'): LeaseguardEvent => ({
  regarding: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: 'lg', name: 'L' },
  type: 'Warning',
  reason: 'DuplicateKey',
  message,
});
const tick = () => new Promise((r) => setImmediate(r));

test('a repeat of one event updates its count instead of writing another', async (t) => {
  const { core, calls } = fakeCore();
  const clock = { now: 0 };
  const rec = new KubeEventRecorder({
    core,
    namespace: 'lg',
    instance: 'r0',
    logger: pino({ level: 'silent' }),
    clock: () => clock.now,
  });
  t.teardown(() => rec.close());
  rec.record(event());
  await tick();
  clock.now += 1000;
  rec.record(event());
  await tick();
  t.is(calls.length, 2);
  t.is(calls[0]!.verb, 'create');
  t.like(calls[0]!.body, {
    involvedObject: { kind: 'Lease', namespace: 'lg', name: 'L' },
    reason: 'DuplicateKey',
    type: 'Warning',
    count: 1,
    source: { component: 'leaseguard', host: 'r0' },
  });
  t.is(calls[1]!.verb, 'patch');
  t.is(calls[1]!.name, calls[0]!.name);
  t.deepEqual((calls[1]!.body as Array<{ path: string; value: unknown }>)[0], {
    op: 'replace',
    path: '/count',
    value: 2,
  });
});

test('a Lease deleted and created again (a new uid) starts a new Event: the old one was about another object', async (t) => {
  const { core, calls } = fakeCore();
  const clock = { now: 0 };
  const rec = new KubeEventRecorder({
    core,
    namespace: 'lg',
    instance: 'r0',
    logger: pino({ level: 'silent' }),
    clock: () => clock.now,
  });
  t.teardown(() => rec.close());
  const about = (uid: string): LeaseguardEvent => ({ ...event(), regarding: { ...event().regarding, uid } });
  rec.record(about('u1'));
  await tick();
  clock.now += 1000;
  rec.record(about('u2'));
  await tick();
  t.deepEqual(
    calls.map((c) => c.verb),
    ['create', 'create'],
  );
  t.like(calls[1]!.body, { involvedObject: { name: 'L', uid: 'u2' }, count: 1 });
});

test('a storm of 1,000 events makes at most the burst of writes', async (t) => {
  const { core, calls } = fakeCore();
  const rec = new KubeEventRecorder({
    core,
    namespace: 'lg',
    instance: 'r0',
    logger: pino({ level: 'silent' }),
    burst: 5,
    clock: () => 0,
  });
  t.teardown(() => rec.close());
  for (let i = 0; i < 1000; i++) {
    rec.record(event(`message ${i % 50}`));
    if (i % 100 === 0) await tick();
  }
  await tick();
  t.is(calls.length, 5);
});

test('a storm of 1,000 repeats converges on count 1,000 in a handful of writes', async (t) => {
  const { core, calls } = fakeCore();
  const rec = new KubeEventRecorder({
    core,
    namespace: 'lg',
    instance: 'r0',
    logger: pino({ level: 'silent' }),
    minIntervalMs: 30,
  });
  t.teardown(() => rec.close());
  const started = Date.now();
  for (let i = 0; i < 1000; i++) {
    rec.record(event());
    if (i % 50 === 0) await sleep(5);
  }
  await rec.settled(5000);
  rec.close();
  const last = calls.at(-1)!;
  t.is(last.verb, 'patch');
  t.deepEqual(
    (last.body as Array<{ path: string; value: unknown }>)[0],
    { op: 'replace', path: '/count', value: 1000 },
    'the Event shows every occurrence',
  );
  t.is(new Set(calls.map((c) => c.name)).size, 1, 'one Event');
  // One write at first, then at most one per 30 ms while the storm lasts, and a last one.
  t.true(calls.length <= 3 + Math.ceil((Date.now() - started) / 30), `${calls.length} writes`);
});

test('the rate limit delays writes but loses no occurrence', async (t) => {
  const { core, calls } = fakeCore();
  // The recorder's own clock, so a busy machine (or the other tests of this file) cannot
  // earn a token before the burst is counted; it runs on once that is checked.
  const clock = { now: 0 };
  const rec = new KubeEventRecorder({
    core,
    namespace: 'lg',
    instance: 'r0',
    logger: pino({ level: 'silent' }),
    burst: 2,
    refillMs: 40,
    clock: () => clock.now,
  });
  t.teardown(() => rec.close());
  for (let i = 0; i < 6; i++) rec.record(event(`lock ${i}`));
  await tick();
  t.is(calls.length, 2, 'the burst, at once');
  const running = setInterval(() => (clock.now += 10), 2);
  await rec.settled(5000);
  clearInterval(running);
  rec.close();
  t.is(calls.length, 6);
  t.deepEqual(
    calls.map((c) => (c.body as { message: string; count: number }).message).sort(),
    Array.from({ length: 6 }, (_, i) => `lock ${i}`),
  );
  t.true(calls.every((c) => c.verb === 'create' && (c.body as { count: number }).count === 1));
});

test('counts of existing Events keep up when new Events are held back', async (t) => {
  const { core, calls } = fakeCore();
  // No new Event after the first two for a long time; count updates at their own rate.
  const rec = new KubeEventRecorder({
    core,
    namespace: 'lg',
    instance: 'r0',
    logger: pino({ level: 'silent' }),
    burst: 2,
    refillMs: 60_000,
    minIntervalMs: 10,
    updateRefillMs: 10,
  });
  t.teardown(() => rec.close());
  rec.record(event('lock a'));
  rec.record(event('lock b'));
  rec.record(event('lock c')); // held back: no token for a new Event
  for (let i = 0; i < 50; i++) {
    rec.record(event('lock a'));
    rec.record(event('lock b'));
    await sleep(2);
  }
  await rec.settled(1000);
  rec.close();
  const last = (message: string) => {
    const name = calls.find((c) => c.verb === 'create' && (c.body as { message: string }).message === message)?.name;
    const mine = calls.filter((c) => c.name === name);
    const final = mine.at(-1)!;
    return final.verb === 'create'
      ? (final.body as { count: number }).count
      : (final.body as Array<{ value: number }>)[0]!.value;
  };
  t.is(last('lock a'), 51);
  t.is(last('lock b'), 51);
  t.false(
    calls.some((c) => (c.body as { message?: string }).message === 'lock c'),
    'the third Event waits for its token',
  );
});

test('a failed write is logged, never thrown', async (t) => {
  const logs: string[] = [];
  const core = { createNamespacedEvent: async () => Promise.reject(new Error('forbidden')) } as unknown as CoreV1Api;
  const rec = new KubeEventRecorder({
    core,
    namespace: 'lg',
    instance: 'r0',
    logger: pino({ level: 'warn' }, { write: (l: string) => logs.push(l) }),
  });
  t.teardown(() => rec.close());
  t.notThrows(() => rec.record(event()));
  await tick();
  await tick();
  t.true(logs.some((l) => l.includes('could not write a Kubernetes Event') && l.includes('forbidden')));
});

test('messages longer than 1 KiB are cut to fit', async (t) => {
  const { core, calls } = fakeCore();
  const rec = new KubeEventRecorder({ core, namespace: 'lg', instance: 'r0', logger: pino({ level: 'silent' }) });
  t.teardown(() => rec.close());
  rec.record(event('x'.repeat(5000)));
  await tick();
  t.is((calls[0]!.body as { message: string }).message.length, 1024);
});

test("the invariant's Events have room and writes of their own: 4,200 distinct busy denials waiting for tokens neither crowd out nor delay a DuplicateKey", async (t) => {
  const { core, calls } = fakeCore();
  const logs: string[] = [];
  const clock = { now: 0 };
  const rec = new KubeEventRecorder({
    core,
    namespace: 'lg',
    instance: 'r0',
    logger: pino({ level: 'warn' }, { write: (l: string) => logs.push(l) }),
    clock: () => clock.now,
  });
  t.teardown(() => rec.close());
  for (let i = 0; i < 4200; i++) {
    rec.record({
      regarding: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: 'lg', name: `L${i}` },
      type: 'Normal',
      reason: 'LockBusy',
      message: `busy ${i}`,
    });
  }
  await tick();
  t.is(calls.length, 25, 'the busy denials spent their burst; thousands wait (for hours) for tokens');
  t.true(
    logs.some((l) => l.includes('some are dropped')),
    'the ordinary Events overflowed',
  );
  clock.now += 1000;
  rec.record(event('two objects hold k'));
  await tick();
  t.is(calls.length, 26);
  t.like(calls.at(-1)!.body, { reason: 'DuplicateKey', count: 1 }, 'written at once');
  clock.now += 2000;
  rec.record({ ...event('cleared'), reason: 'DuplicateKeyCleared', type: 'Normal' });
  await tick();
  t.like(calls.at(-1)!.body, { reason: 'DuplicateKeyCleared' });
});
