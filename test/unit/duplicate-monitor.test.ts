// The invariant monitor: live objects per lock key, reported at two and cleared below.
import test from 'ava';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import type { LeaseguardEvent } from '../../src/kube/event-recorder.js';
import { createMetrics } from '../../src/metrics.js';
import { DuplicateMonitor, LiveKeyIndex } from '../../src/release/duplicate-monitor.js';
import type { CacheEvent, CachedObject } from '../../src/release/watch-cache.js';

const rule = DEFAULT_RULES[0]!;

function setup() {
  const registry = new Registry();
  const metrics = createMetrics(registry, { defaultMetrics: false });
  const logs: Array<{ level: number; msg: string; objects?: string[] }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line)) });
  const events: LeaseguardEvent[] = [];
  const monitor = new DuplicateMonitor({
    rule,
    leaseNamespace: 'lg',
    metrics,
    logger,
    events: { record: (e) => events.push(e) },
  });
  // As the watch cache does: each event carries the entry it replaces or removes.
  const cached = new Map<string, CachedObject>();
  const observe = (type: CacheEvent, o: CachedObject, key: string | undefined) => {
    const prev = cached.get(o.name);
    if (type === 'delete') cached.delete(o.name);
    else cached.set(o.name, o);
    monitor.observe(type, o, key, type === 'delete' ? (prev ?? o) : prev);
  };
  const gauge = async () =>
    (await registry.getSingleMetric('leaseguard_duplicate_keys')!.get()).values.find((v) => v.labels.kind === rule.kind)
      ?.value;
  return { monitor, observe, logs, events, gauge, registry };
}

const obj = (name: string, lease: string | undefined, over: Partial<CachedObject> = {}): CachedObject => ({
  namespace: 'prod',
  name,
  uid: `uid-${name}`,
  phase: '',
  terminal: false,
  ...(lease === undefined ? {} : { lease }),
  ...over,
});

test('two live objects with one key: reported at once (gauge, error log naming both, Warning Event); cleared when one finishes', async (t) => {
  const { observe, logs, events, gauge } = setup();
  t.is(await gauge(), 0);
  observe('add', obj('we-1', 'L'), 'prod/Deployment/api');
  t.is(await gauge(), 0, 'one object is no duplicate');
  observe('created', obj('we-2', 'L'), 'prod/Deployment/api');
  t.is(await gauge(), 1);
  const error = logs.find((l) => l.level === 50);
  t.deepEqual(error?.objects, ['prod/we-1', 'prod/we-2']);
  t.regex(error?.msg ?? '', /"prod\/Deployment\/api"/);
  t.like(events[0], {
    type: 'Warning',
    reason: 'DuplicateKey',
    regarding: { kind: 'Lease', namespace: 'lg', name: 'L' },
  });
  t.regex(events[0]!.message, /prod\/we-1, prod\/we-2/);

  observe('update', obj('we-2', 'L', { phase: 'Completed', terminal: true }), 'prod/Deployment/api');
  t.is(await gauge(), 0, 'a finished object no longer counts');
  t.like(events[1], { type: 'Normal', reason: 'DuplicateKeyCleared' });
  t.truthy(logs.find((l) => l.msg.startsWith('duplicate lock key cleared')));
});

test("deletes, other keys, objects without a key and another installation's objects do not count", async (t) => {
  const { observe, events, gauge } = setup();
  observe('add', obj('a', 'L1'), 'k1');
  observe('add', obj('b', 'L2'), 'k2');
  observe('add', obj('c', undefined), undefined);
  observe('add', obj('d', undefined), undefined);
  observe('add', obj('e', 'L1', { foreign: true }), 'k1');
  observe('add', obj('f', 'L1', { terminal: true, phase: 'Failed' }), 'k1');
  t.is(await gauge(), 0);
  observe('add', obj('g', 'L1'), 'k1');
  t.is(await gauge(), 1);
  observe('delete', obj('g', 'L1'), 'k1');
  t.is(await gauge(), 0);
  t.deepEqual(
    events.map((e) => e.reason),
    ['DuplicateKey', 'DuplicateKeyCleared'],
  );
});

test('an object whose key changes moves between keys; three then two objects stay one duplicated key', async (t) => {
  const { monitor, observe, gauge, registry } = setup();
  observe('add', obj('a', 'L1'), 'k1');
  observe('add', obj('b', 'L1'), 'k1');
  observe('add', obj('c', 'L1'), 'k1');
  observe('add', obj('x', 'L2'), 'k2');
  observe('add', obj('y', 'L2'), 'k2');
  t.is(await gauge(), 2);
  observe('update', obj('c', 'L3'), 'k3');
  t.is(await gauge(), 2, 'L1 still has two');
  observe('update', obj('b', 'L3'), 'k3');
  t.is(await gauge(), 2, 'L1 cleared, L3 now has two');
  const detected = (await registry.getSingleMetric('leaseguard_duplicate_keys_detected_total')!.get()).values[0]?.value;
  t.is(detected, 3, 'L1, L2 and L3 each detected once');
  monitor.reset();
  t.is(await gauge(), undefined, 'leadership lost: the gauge is withdrawn');
});

test('the live-key index: one object counts for one key at a time, by namespace and name', (t) => {
  const index = new LiveKeyIndex();
  const names = (lease: string) => index.objects(lease).map((o) => o.name);
  t.deepEqual(index.move(obj('a', 'L1'), undefined, 'L1'), ['L1']);
  t.deepEqual(index.move(obj('a', 'L1', { phase: 'Running' }), 'L1', 'L1'), [], 'no change of key');
  t.is(index.objects('L1').length, 1, 'the newer entry replaced the older');
  t.is(index.objects('L1')[0]!.phase, 'Running');
  t.deepEqual(index.move(obj('b', 'L1'), undefined, 'L1'), ['L1']);
  t.deepEqual(names('L1'), ['a', 'b']);
  t.deepEqual(index.move(obj('a', 'L2'), 'L1', 'L2'), ['L1', 'L2']);
  t.deepEqual(names('L1'), ['b']);
  t.deepEqual(index.move(obj('b', undefined), 'L1', undefined), ['L1']);
  t.deepEqual(names('L1'), []);
  t.deepEqual(names('L2'), ['a']);
  t.deepEqual(
    index.move(obj('a', 'L2', { namespace: 'other' }), undefined, 'L2'),
    ['L2'],
    'same name, other namespace: another object',
  );
  t.is(index.objects('L2').length, 2);
});

test('while a list is under way nothing is judged: a successor listed beside the object it replaced is no duplicate; a real one is reported when the list ends', async (t) => {
  const { monitor, observe, logs, events, gauge } = setup();
  observe('add', obj('we-1', 'L'), 'prod/Deployment/api');
  observe('add', obj('we-3', 'M'), 'prod/Deployment/web');
  // A relist: we-1 was deleted while the watch was down and we-2 took its key; the list
  // stores we-2 first and removes we-1 only once it is whole. we-4 really duplicates M.
  monitor.hold();
  observe('add', obj('we-2', 'L'), 'prod/Deployment/api');
  observe('add', obj('we-4', 'M'), 'prod/Deployment/web');
  observe('delete', obj('we-1', 'L'), undefined);
  t.is(await gauge(), 0, 'nothing judged while held');
  t.deepEqual(events, []);
  monitor.settle();
  t.is(await gauge(), 1, 'the real duplicate, reported once the list is whole');
  t.is(events.length, 1);
  t.like(events[0], { reason: 'DuplicateKey', regarding: { name: 'M' } });
  t.is(logs.filter((l) => l.level === 50).length, 1);
  // Held again and reset (leadership lost mid-list): the next term judges at once.
  monitor.hold();
  monitor.reset();
  observe('created', obj('we-5', 'L'), 'prod/Deployment/api');
  t.is(events.length, 2, 'not held after a reset');
});
