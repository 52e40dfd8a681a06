// The release controller against a stand-in API server (plain HTTP on loopback) that plays
// what the real one cannot be made to do on demand: a watch whose history expired (410
// Gone), and objects listed exactly as a test needs. Leases live in the in-memory store.
import http from 'node:http';
import test from 'ava';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { indexRules, DEFAULT_RULES, type GuardRule } from '../../src/core/rules.js';
import type { LeaseguardEvent } from '../../src/kube/event-recorder.js';
import { LeaseAges } from '../../src/lock/lease-ages.js';
import { LockService } from '../../src/lock/lock-service.js';
import { createMetrics } from '../../src/metrics.js';
import { ReleaseController } from '../../src/release/release-controller.js';
import { Readiness } from '../../src/readiness.js';
import { unverifiableHolders } from '../../src/store/holder-reader.js';
import { MemoryLeaseStore } from '../../src/store/memory-lease-store.js';
import { standInKubeConfig } from '../support/failing-apiserver.js';
import { capturingLogger } from '../support/webhook-server.js';
import { sleep } from '../harness/wait.js';

const we = (name: string, target: string, rv: string) => ({
  apiVersion: 'kubernaut.ai/v1alpha1',
  kind: 'WorkflowExecution',
  metadata: { name, namespace: 'prod', uid: `uid-${name}`, resourceVersion: rv },
  spec: { targetResource: target },
});

/**
 * A stand-in serving `lists` in turn (the last one again after that); each watch after
 * the first list answers `firstWatch` ('expired': a 410 and the end) or stays quiet.
 */
async function standIn(lists: object[][], firstWatch: 'expired' | 'quiet') {
  let listed = 0;
  const open = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (new URL(req.url ?? '/', 'http://x').searchParams.get('watch') !== 'true') {
      const items = lists[Math.min(listed++, lists.length - 1)];
      res.end(
        JSON.stringify({ kind: 'WorkflowExecutionList', metadata: { resourceVersion: String(10 * listed) }, items }),
      );
    } else if (listed === 1 && firstWatch === 'expired') {
      res.end(
        `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } })}\n`,
      );
    } else {
      res.flushHeaders();
      open.add(res);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    kubeConfig: standInKubeConfig(server),
    listed: () => listed,
    async close() {
      for (const r of open) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function controllerOn(
  api: Awaited<ReturnType<typeof standIn>>,
  o: {
    rule?: GuardRule;
    store?: MemoryLeaseStore;
    ages?: LeaseAges;
    sweepIntervalSeconds?: number;
    logs?: string[];
  } = {},
) {
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const events: LeaseguardEvent[] = [];
  const controller = new ReleaseController({
    kubeConfig: api.kubeConfig,
    store: o.store ?? new MemoryLeaseStore('lg'),
    holders: unverifiableHolders,
    rules: indexRules([o.rule ?? DEFAULT_RULES[0]!]),
    pendingTimeoutSeconds: 30,
    ages: o.ages ?? new LeaseAges(),
    events: { record: (e) => void events.push(e) },
    sweepIntervalSeconds: o.sweepIntervalSeconds ?? 3600,
    metrics,
    logger: o.logs ? capturingLogger(o.logs) : pino({ level: 'silent' }),
    readiness: new Readiness(),
  });
  return { controller, metrics, events };
}

test('a relist that finds a successor where the old object is gone reports no duplicate; one that finds two live objects for a key does', async (t) => {
  // First we-1 (api) and we-3 (web); after the 410, we-2 in place of we-1 (api) and we-3
  // with we-4 (web, a real duplicate made while the watch was down).
  const api = await standIn(
    [
      [we('we-1', 'prod/Deployment/api', '10'), we('we-3', 'prod/Deployment/web', '10')],
      [
        we('we-2', 'prod/Deployment/api', '20'),
        we('we-3', 'prod/Deployment/web', '10'),
        we('we-4', 'prod/Deployment/web', '20'),
      ],
    ],
    'expired',
  );
  t.teardown(() => api.close());
  const { controller, metrics, events } = controllerOn(api);
  t.teardown(() => controller.stop());
  // Every value the gauge takes, not only the last.
  const gaugeSeen: number[] = [];
  const gauge = metrics.duplicateKeys;
  const set = gauge.set.bind(gauge);
  gauge.set = ((labels: never, value: number) => {
    gaugeSeen.push(value);
    set(labels, value);
  }) as typeof gauge.set;
  await controller.start();
  const deadline = Date.now() + 10_000;
  while (api.listed() < 2 && Date.now() < deadline) await sleep(20);
  await sleep(200);
  t.is(api.listed(), 2, 'relisted after the 410');
  const duplicates = events.filter((e) => e.reason === 'DuplicateKey');
  t.is(duplicates.length, 1, 'the real duplicate is reported');
  t.regex(duplicates[0]!.message, /prod\/we-3, prod\/we-4/);
  t.notRegex(
    events.map((e) => e.message).join('\n'),
    /we-1.*we-2|we-2.*we-1/,
    'a successor beside its deleted predecessor is no duplicate',
  );
  t.deepEqual(gaugeSeen, [0, 1], 'the gauge went from 0 to 1, never to 2');
});

// A maximum hold of hours must not make every sweep read every lock again: a recheck due
// after the next sweep is that sweep's to arm. One due before it is armed now.
for (const [maxHoldSeconds, sweepIntervalSeconds, queued] of [
  [7200, 60, 0],
  [40, 60, 1],
] as const) {
  test(`a sweep queues a held lock's max-hold recheck only when it falls before the next sweep (maxHold ${maxHoldSeconds} s, sweep every ${sweepIntervalSeconds} s: ${queued})`, async (t) => {
    const rule = { ...DEFAULT_RULES[0]!, maxHoldSeconds };
    const store = new MemoryLeaseStore('lg');
    const ages = new LeaseAges();
    const locks = new LockService({ store, holders: unverifiableHolders, pendingTimeoutSeconds: 30, ages });
    const object = { group: rule.group, kind: rule.kind, namespace: 'prod', name: 'we-1', uid: 'uid-we-1' };
    t.is(
      (
        await locks.acquire(
          rule,
          { key: 'prod/Deployment/api', object, requester: { username: 'ro' } },
          { dryRun: false },
        )
      ).verdict,
      'allowed',
    );
    const api = await standIn([[we('we-1', 'prod/Deployment/api', '10')]], 'quiet');
    t.teardown(() => api.close());
    const logs: string[] = [];
    const { controller } = controllerOn(api, { rule, store, ages, sweepIntervalSeconds, logs });
    t.teardown(() => controller.stop());
    await controller.start(); // lists, then sweeps once
    await controller.drained();
    const sweeps = logs
      .map((l) => JSON.parse(l) as { msg: string; leases?: number; queued?: number })
      .filter((l) => l.msg === 'sweep looked at every managed Lease');
    t.is(sweeps.length, 1);
    t.like(sweeps[0], { leases: 1, queued });
  });
}
