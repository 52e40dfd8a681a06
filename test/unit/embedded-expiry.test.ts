import test from 'ava';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import { LeaseAges } from '../../src/lock/lease-ages.js';
import { LockService } from '../../src/lock/lock-service.js';
import { createMetrics } from '../../src/metrics.js';
import { EmbeddedExpiry } from '../../src/release/embedded-expiry.js';
import { unverifiableHolders } from '../../src/store/holder-reader.js';
import { MemoryLeaseStore } from '../../src/store/memory-lease-store.js';
import { lockOf } from '../support/lock-of.js';

const rule = DEFAULT_RULES[0]!;
const PENDING_S = 30;

function setup() {
  // The wall clock jumps back an hour on every step: ages come from the monotonic clock alone.
  let mono = 0;
  let wall = Date.UTC(2026, 0, 1);
  const clock = () => new Date(wall);
  const ages = new LeaseAges({ monotonic: () => mono });
  const store = new MemoryLeaseStore('ns');
  const locks = new LockService({ store, holders: unverifiableHolders, pendingTimeoutSeconds: PENDING_S, clock, ages });
  const registry = new Registry();
  const metrics = createMetrics(registry);
  const expiry = new EmbeddedExpiry({
    store,
    ages,
    pendingTimeoutSeconds: PENDING_S,
    metrics,
    logger: pino({ level: 'silent' }),
  });
  const take = (key: string, name: string) =>
    locks.acquire(
      rule,
      {
        key,
        object: { group: rule.group, kind: rule.kind, namespace: 'ns', name, uid: `uid-${name}` },
        requester: { username: 'u' },
      },
      { dryRun: false },
    );
  return { store, expiry, take, registry, advance: (ms: number) => ((mono += ms), (wall -= 3_600_000)) };
}

test('embedded expiry keeps a lock until the pending timeout, then drops its Lease', async (t) => {
  const { store, expiry, take, advance, registry } = setup();
  await take('ns/Deployment/a', 'we-a');
  advance(10_000);
  await take('ns/Deployment/b', 'we-b');
  advance(PENDING_S * 1000 - 10_001);
  t.is(await expiry.runOnce(), 0, 'one millisecond before the timeout nothing expires');
  t.is((await store.list('')).length, 2);
  advance(1);
  t.is(await expiry.runOnce(), 1, 'the older lock expires exactly at the timeout');
  const left = await store.list('');
  t.deepEqual(
    left.map((l) => lockOf(l)?.object.name),
    ['we-b'],
  );
  const text = await registry.metrics();
  t.regex(text, /leaseguard_lock_releases_total\{kind="WorkflowExecution",reason="expired"\} 1/);
});

test('embedded expiry agrees with admission: a dropped lock is free, a kept one is busy', async (t) => {
  const { expiry, take, advance } = setup();
  await take('ns/Deployment/a', 'we-a');
  advance(PENDING_S * 1000 - 1);
  await expiry.runOnce();
  t.is((await take('ns/Deployment/a', 'we-a2')).verdict, 'busy', 'not expired: the holder still counts as live');
  advance(1);
  t.is(await expiry.runOnce(), 1);
  const next = await take('ns/Deployment/a', 'we-a3');
  t.is(next.verdict, 'allowed');
  t.is(next.verdict === 'allowed' && next.how, 'acquired', 'a fresh create, no Lease was left to take over');
});

test('embedded expiry leaves a Lease that changed since it was scanned', async (t) => {
  const { store, expiry, take, advance } = setup();
  await take('ns/Deployment/a', 'we-a');
  advance(PENDING_S * 1000);
  // Taken over between the scan and the delete: the delete's preconditions must fail.
  const del = store.delete.bind(store);
  store.delete = async (...args) => {
    await take('ns/Deployment/a', 'we-b');
    return del(...args);
  };
  t.is(await expiry.runOnce(), 0);
  const [lease] = await store.list('');
  t.is(lockOf(lease)?.object.name, 'we-b', 'the new holder keeps its lock');
});

test('embedded expiry walks a large store without holding the event loop', async (t) => {
  const { expiry, take, advance } = setup();
  for (let i = 0; i < 5000; i++) await take(`ns/Deployment/x-${i}`, `we-${i}`);
  advance(PENDING_S * 1000);
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 0);
  t.is(await expiry.runOnce(), 5000);
  clearInterval(ticker);
  t.true(ticks >= 3, `timers ran ${ticks} times while it worked`);
});
