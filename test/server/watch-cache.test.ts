// A watch on a dead connection: nothing arrives and nothing closes it, so only the watch
// cache itself can notice. A stand-in API server plays the dead connection (the real one
// always ends its watches, and a proxy cannot tell a watch from other TLS traffic).
import http from 'node:http';
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import test, { type ExecutionContext } from 'ava';
import pino from 'pino';
import { LEASE_ANNOTATION } from '../../src/admission/mutating-webhook.js';
import { leaseName } from '../../src/core/lease-name.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import { WatchCache, type CacheEvent, type CachedObject } from '../../src/release/watch-cache.js';
import { standInKubeConfig } from '../support/failing-apiserver.js';
import { sleep } from '../harness/wait.js';

const rule = DEFAULT_RULES[0]!;

/** Starts a stand-in API server, stopped (its `open` watches ended) when the test ends. */
async function listening(
  t: ExecutionContext,
  server: http.Server,
  open: Set<http.ServerResponse>,
): Promise<KubeConfig> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(async () => {
    for (const r of open) r.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return standInKubeConfig(server);
}

function workflowExecution(phase: string, resourceVersion: string) {
  return {
    apiVersion: 'kubernaut.ai/v1alpha1',
    kind: 'WorkflowExecution',
    metadata: { name: 'we-1', namespace: 'prod', uid: 'uid-1', resourceVersion },
    spec: { targetResource: 'prod/Deployment/api' },
    ...(phase ? { status: { phase } } : {}),
  };
}

interface StandIn {
  kubeConfig: KubeConfig;
  lists: number;
  watches: URLSearchParams[];
  close(): Promise<void>;
}

/** Lists one running object; its first watch `dead` (headers or not), later ones report it Completed. */
async function standIn(dead: 'after-headers' | 'before-headers' | 'quiet', quietMs = 0): Promise<StandIn> {
  const state = { lists: 0, watches: [] as URLSearchParams[] };
  const open = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.searchParams.get('watch') !== 'true') {
      state.lists++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          apiVersion: 'kubernaut.ai/v1alpha1',
          kind: 'WorkflowExecutionList',
          metadata: { resourceVersion: '10' },
          items: [workflowExecution('', '10')],
        }),
      );
      return;
    }
    state.watches.push(url.searchParams);
    open.add(res);
    if (dead === 'quiet') {
      // Alive but quiet: headers, then nothing for quietMs, then the change.
      res.writeHead(200, { 'content-type': 'application/json' }).flushHeaders();
      setTimeout(
        () => res.write(`${JSON.stringify({ type: 'MODIFIED', object: workflowExecution('Completed', '11') })}\n`),
        quietMs,
      );
      return;
    }
    if (state.watches.length === 1) {
      if (dead === 'after-headers') res.writeHead(200, { 'content-type': 'application/json' }).flushHeaders();
      return; // and never another byte
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(`${JSON.stringify({ type: 'MODIFIED', object: workflowExecution('Completed', '11') })}\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    kubeConfig: standInKubeConfig(server),
    get lists() {
      return state.lists;
    },
    watches: state.watches,
    async close() {
      for (const r of open) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A watch cache on the stand-in, recording its events and restarts. */
function watchCacheOn(api: StandIn, timeoutSeconds: number) {
  const events: Array<[CacheEvent, CachedObject]> = [];
  let restarts = 0;
  const cache = new WatchCache({
    kubeConfig: api.kubeConfig,
    api: api.kubeConfig.makeApiClient(CustomObjectsApi),
    rule,
    logger: pino({ level: 'silent' }),
    timeoutSeconds,
    onEvent: (type, obj) => events.push([type, obj]),
    onHealth: () => {},
    onRestart: () => restarts++,
  });
  return { cache, events, restarts: () => restarts };
}

for (const dead of ['after-headers', 'before-headers'] as const) {
  test(`a watch on a dead connection (${dead}) is replaced after its timeout and resumes where it was`, async (t) => {
    const api = await standIn(dead);
    t.teardown(() => api.close());
    const { cache, events, restarts } = watchCacheOn(api, 1);
    t.teardown(() => cache.stop());
    const started = performance.now();
    await cache.start();
    const deadline = Date.now() + 10_000;
    while (!events.some(([type, o]) => type === 'update' && o.terminal) && Date.now() < deadline) await sleep(50);
    const seconds = (performance.now() - started) / 1000;
    t.true(
      events.some(([type, o]) => type === 'update' && o.terminal && o.phase === 'Completed'),
      'the completion on the new watch reached the cache',
    );
    // Replaced after timeoutSeconds plus the grace (1 + 1 s here), not before.
    t.true(seconds >= 1.9 && seconds < 6, `replaced after ${seconds.toFixed(1)} s`);
    t.is(restarts(), 1);
    t.is(api.lists, 1, 'resumed from the last resourceVersion, no relist');
    t.is(api.watches.length, 2);
    t.is(api.watches[0]?.get('timeoutSeconds'), '1', 'the API server is asked to end each watch');
    t.is(api.watches[1]?.get('resourceVersion'), '10');
    t.is(cache.get('prod', 'we-1')?.terminal, true);
  });
}

test("only a stamp from a configured other installation, for the object's own lock, marks it foreign; no other stamp hides it", async (t) => {
  const own = leaseName(rule, 'prod/Deployment/api');
  const stamped = (name: string, lease?: string) => ({
    ...workflowExecution('', '10'),
    metadata: {
      name,
      namespace: 'prod',
      uid: `uid-${name}`,
      resourceVersion: '10',
      ...(lease ? { annotations: { [LEASE_ANNOTATION]: lease } } : {}),
    },
  });
  const cases: Array<[string, string | undefined, boolean]> = [
    ['unstamped', undefined, false],
    ['ours', `leaseguard-system/${own}`, false],
    ['trusted', `other-system/${own}`, true],
    ['trusted-other-lock', 'other-system/workflowexecution-x', false],
    ['untrusted', `mallory-system/${own}`, false],
    ['prefix', `other-system-2/${own}`, false],
    ['nested', `a/other-system/${own}`, false],
  ];
  const items = cases.map(([name, lease]) => stamped(name, lease));
  const open = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (new URL(req.url ?? '/', 'http://x').searchParams.get('watch') !== 'true') {
      res.end(
        JSON.stringify({
          apiVersion: 'kubernaut.ai/v1alpha1',
          kind: 'WorkflowExecutionList',
          metadata: { resourceVersion: '10' },
          items,
        }),
      );
    } else {
      res.flushHeaders(); // a quiet watch
      open.add(res);
    }
  });
  const kubeConfig = await listening(t, server, open);
  const cache = new WatchCache({
    kubeConfig,
    api: kubeConfig.makeApiClient(CustomObjectsApi),
    rule,
    logger: pino({ level: 'silent' }),
    foreignLeaseNamespaces: ['other-system'],
    onEvent: () => {},
    onHealth: () => {},
    onRestart: () => {},
  });
  t.teardown(() => cache.stop());
  await cache.start();
  t.deepEqual(
    cases.map(([n]) => [n, cache.get('prod', n)?.foreign ?? false]),
    cases.map(([n, , foreign]) => [n, foreign]),
  );
});

test('events carry the entry they replace or remove; a change nothing decides on keeps the cached entry itself; size counts across namespaces', async (t) => {
  const we = (namespace: string, name: string, rv: string, phase = '') => ({
    ...workflowExecution(phase, rv),
    metadata: { name, namespace, uid: `uid-${namespace}-${name}`, resourceVersion: rv },
  });
  const open = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (new URL(req.url ?? '/', 'http://x').searchParams.get('watch') !== 'true') {
      res.end(
        JSON.stringify({
          kind: 'WorkflowExecutionList',
          metadata: { resourceVersion: '10' },
          items: [we('prod', 'a', '10'), we('dev', 'a', '10'), we('dev', 'b', '10')],
        }),
      );
      return;
    }
    open.add(res);
    const send = (type: string, object: unknown) => res.write(`${JSON.stringify({ type, object })}\n`);
    send('MODIFIED', we('prod', 'a', '11')); // a new resourceVersion only (labels, status fields nothing reads)
    send('MODIFIED', we('dev', 'a', '12', 'Completed'));
    send('DELETED', we('dev', 'b', '13'));
  });
  const kubeConfig = await listening(t, server, open);
  const events: Array<{ type: CacheEvent; obj: CachedObject; prev: CachedObject | undefined }> = [];
  const cache = new WatchCache({
    kubeConfig,
    api: kubeConfig.makeApiClient(CustomObjectsApi),
    rule,
    logger: pino({ level: 'silent' }),
    onEvent: (type, obj, _key, prev) => events.push({ type, obj, prev }),
    onHealth: () => {},
    onRestart: () => {},
  });
  t.teardown(() => cache.stop());
  await cache.start();
  t.is(cache.size, 3);
  const prodA = cache.get('prod', 'a');
  const devA = cache.get('dev', 'a');
  const deadline = Date.now() + 5000;
  while (events.length < 5 && Date.now() < deadline) await sleep(20);
  t.deepEqual(
    events.map((e) => `${e.type} ${e.obj.namespace}/${e.obj.name}`),
    ['add prod/a', 'add dev/a', 'add dev/b', 'update dev/a', 'delete dev/b'],
  );
  t.true(events.slice(0, 3).every((e) => e.prev === undefined));
  t.is(
    cache.get('prod', 'a'),
    prodA,
    "an unchanged object keeps its entry (what the duplicate monitor holds stays the cache's own)",
  );
  t.is(events[3]!.prev, devA, 'an update names the entry it replaced');
  t.is(events[3]!.obj.phase, 'Completed');
  t.is(events[4]!.prev?.uid, 'uid-dev-b', 'a delete names the entry it removed');
  t.is(cache.size, 2);
  t.is(cache.get('dev', 'b'), undefined);
});

test("a watch that stays quiet longer than client-node's 30 s idle timer is kept: no restart, the change arrives on it", async (t) => {
  const api = await standIn('quiet', 33_000);
  t.teardown(() => api.close());
  const { cache, events, restarts } = watchCacheOn(api, 60);
  t.teardown(() => cache.stop());
  await cache.start();
  const deadline = Date.now() + 40_000;
  while (!events.some(([type, o]) => type === 'update' && o.terminal) && Date.now() < deadline) await sleep(100);
  t.true(
    events.some(([type, o]) => type === 'update' && o.terminal),
    'the change after 33 quiet seconds reached the cache',
  );
  t.is(restarts(), 0);
  t.is(api.watches.length, 1, 'the one watch stayed open');
});
