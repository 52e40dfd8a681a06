import test from 'ava';
import { pino } from 'pino';
import { LeaderElector } from '../../src/release/leader-election.js';
import { MemoryLeaseStore } from '../../src/store/memory-lease-store.js';
import type { LeaseStore } from '../../src/store/lease-store.js';
import { delegatingStore } from '../support/delegating-store.js';
import { sleep } from '../harness/wait.js';

const logger = pino({ level: 'silent' });

function elector(store: LeaseStore, identity: string, events: string[], o: { duration?: number } = {}) {
  return new LeaderElector({
    store,
    name: 'leader',
    identity,
    leaseDurationMs: o.duration ?? 300,
    renewDeadlineMs: 200,
    retryPeriodMs: 50,
    logger,
    onStartedLeading: () => events.push(`${identity}:start`),
    onStoppedLeading: () => events.push(`${identity}:stop`),
  });
}

test('exactly one of several candidates leads', async (t) => {
  const store = new MemoryLeaseStore('ns');
  const events: string[] = [];
  const all = ['a', 'b', 'c'].map((id) => elector(store, id, events));
  t.teardown(() => Promise.all(all.map((e) => e.stop())));
  all.forEach((e) => e.start());
  await sleep(400);
  t.is(all.filter((e) => e.isLeader).length, 1);
  t.is(events.filter((e) => e.endsWith(':start')).length, 1);
});

test('a leader that stops gives the Lease up and another takes over at once', async (t) => {
  const store = new MemoryLeaseStore('ns');
  const events: string[] = [];
  const a = elector(store, 'a', events, { duration: 60_000 });
  t.teardown(() => a.stop());
  a.start();
  await sleep(100);
  t.true(a.isLeader);
  const b = elector(store, 'b', events, { duration: 60_000 });
  t.teardown(() => b.stop());
  b.start();
  await sleep(150);
  t.false(b.isLeader, 'a holds a long lease');
  await a.stop();
  await sleep(200);
  t.true(b.isLeader, 'released, so no need to wait the lease duration');
  t.deepEqual(events, ['a:start', 'a:stop', 'b:start']);
  const lease = await store.get('leader');
  t.is(lease?.spec?.holderIdentity, 'b');
  t.is(lease?.spec?.leaseTransitions, 1);
});

test('a leader that vanishes is replaced after the lease duration, not before', async (t) => {
  const store = new MemoryLeaseStore('ns');
  const events: string[] = [];
  // A dead leader: it took the Lease and then stopped renewing (no release).
  await store.create({
    metadata: { name: 'leader', namespace: 'ns' },
    spec: { holderIdentity: 'dead', leaseDurationSeconds: 1, renewTime: new Date() },
  });
  const b = elector(store, 'b', events);
  t.teardown(() => b.stop());
  const started = performance.now();
  b.start();
  while (!b.isLeader && performance.now() - started < 3000) await sleep(20);
  const waited = performance.now() - started;
  t.true(b.isLeader);
  t.true(waited >= 950, `took over after ${Math.round(waited)}ms, before the 1s lease duration`);
});

test('a leader that cannot renew before the renew deadline stops leading', async (t) => {
  const inner = new MemoryLeaseStore('ns');
  let failing = false;
  const store = delegatingStore(inner, {
    get: (n) => (failing ? Promise.reject(new Error('API server down')) : inner.get(n)),
  });
  const events: string[] = [];
  const a = elector(store, 'a', events);
  t.teardown(() => a.stop());
  a.start();
  await sleep(100);
  t.true(a.isLeader);
  failing = true;
  await sleep(400);
  t.false(a.isLeader);
  t.deepEqual(events, ['a:start', 'a:stop']);
});
