// A relist after the watch's history expired (410 Gone) stores what it finds before it
// removes what is gone. An object deleted while the watch was down and its successor for
// the same key are then both in the cache for a moment: the duplicate monitor must not
// call that a duplicate (a false DuplicateKey Event and a critical alert). A stand-in API
// server plays the expired history; the release controller is wired as it runs.
import http from 'node:http';
import test from 'ava';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { indexRules, DEFAULT_RULES } from '../../src/core/rules.js';
import type { LeaseguardEvent } from '../../src/kube/event-recorder.js';
import { LeaseAges } from '../../src/lock/lease-ages.js';
import { createMetrics } from '../../src/metrics.js';
import { ReleaseController } from '../../src/release/release-controller.js';
import { Readiness } from '../../src/server/readiness.js';
import { unverifiableHolders } from '../../src/store/holder-reader.js';
import { MemoryLeaseStore } from '../../src/store/memory-lease-store.js';
import { standInKubeConfig } from '../support/failing-apiserver.js';

const we = (name: string, target: string, rv: string) => ({
  apiVersion: 'kubernaut.ai/v1alpha1',
  kind: 'WorkflowExecution',
  metadata: { name, namespace: 'prod', uid: `uid-${name}`, resourceVersion: rv },
  spec: { targetResource: target },
});

test('a relist that finds a successor where the old object is gone reports no duplicate; one that finds two live objects for a key does', async (t) => {
  // Lists: first we-1 (api) and we-3 (web); after the 410, we-2 in place of we-1 (api)
  // and we-3 with we-4 (web, a real duplicate made while the watch was down).
  const lists = [
    [we('we-1', 'prod/Deployment/api', '10'), we('we-3', 'prod/Deployment/web', '10')],
    [we('we-2', 'prod/Deployment/api', '20'), we('we-3', 'prod/Deployment/web', '10'), we('we-4', 'prod/Deployment/web', '20')],
  ];
  let listed = 0;
  const open = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const watch = new URL(req.url ?? '/', 'http://x').searchParams.get('watch') === 'true';
    if (!watch) {
      const items = lists[Math.min(listed++, lists.length - 1)];
      res.end(JSON.stringify({ kind: 'WorkflowExecutionList', metadata: { resourceVersion: listed === 1 ? '10' : '20' }, items }));
    } else if (listed === 1) {
      // The history the first watch resumes from is gone.
      res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } })}\n`);
    } else {
      res.flushHeaders(); // quiet from here
      open.add(res);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const kubeConfig = standInKubeConfig(server);
  const registry = new Registry();
  const metrics = createMetrics(registry, { defaultMetrics: false });
  const events: LeaseguardEvent[] = [];
  const gaugeSeen: number[] = [];
  const controller = new ReleaseController({
    kubeConfig,
    store: new MemoryLeaseStore('lg'),
    holders: unverifiableHolders,
    rules: indexRules([DEFAULT_RULES[0]!]),
    pendingTimeoutSeconds: 30,
    ages: new LeaseAges(),
    events: {
      record: (e) => {
        events.push(e);
      },
    },
    sweepIntervalSeconds: 3600,
    metrics,
    logger: pino({ level: 'silent' }),
    readiness: new Readiness(),
  });
  // Every value the gauge takes, not only the last.
  const gauge = metrics.duplicateKeys;
  const set = gauge.set.bind(gauge);
  gauge.set = ((labels: never, value: number) => {
    gaugeSeen.push(value);
    set(labels, value);
  }) as typeof gauge.set;
  try {
    await controller.start();
    const deadline = Date.now() + 10_000;
    while (listed < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    t.is(listed, 2, 'relisted after the 410');
    const duplicates = events.filter((e) => e.reason === 'DuplicateKey');
    t.is(duplicates.length, 1, 'the real duplicate is reported');
    t.regex(duplicates[0]!.message, /prod\/we-3, prod\/we-4/);
    t.notRegex(events.map((e) => e.message).join('\n'), /we-1.*we-2|we-2.*we-1/, 'a successor beside its deleted predecessor is no duplicate');
    t.deepEqual(gaugeSeen, [0, 1], 'the gauge went from 0 to 1, never to 2');
  } finally {
    await controller.stop();
    for (const r of open) r.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
