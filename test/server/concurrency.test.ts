// Many admissions at once through the HTTPS server: exactly one writer per key, and
// never an admitted duplicate when the store fails.
import test from 'ava';
import { createKubeClients } from '../../src/kube/kube-client.js';
import { KubeHolderReader } from '../../src/store/holder-reader.js';
import { KubeLeaseStore } from '../../src/store/kube-lease-store.js';
import { MemoryLeaseStore } from '../../src/store/memory-lease-store.js';
import { faultyStore, type Fault } from '../support/faulty-store.js';
import { startFailingApiServer, type ApiFailure } from '../support/failing-apiserver.js';
import { admissionReview } from '../support/reviews.js';
import { startTestServer } from '../support/webhook-server.js';
import { lockOf } from '../support/lock-of.js';

test('200 concurrent CREATEs for one key: exactly one allowed, 199 busy', async (t) => {
  const s = await startTestServer();
  t.teardown(() => s.close());
  const reviews = Array.from({ length: 200 }, (_, i) =>
    admissionReview({ key: 'hot/Deployment/api', name: `we-${i}` }),
  );
  const results = await Promise.all(reviews.map((r) => s.client.post('/validate', r)));
  const allowed = results.filter((r) => r.json.response.allowed);
  const busy = results.filter(
    (r) => r.json.response.status?.code === 409 && r.json.response.status?.reason === 'Conflict',
  );
  t.is(allowed.length, 1);
  t.is(busy.length, 199);
  // The admitted review's object is the one every denial names and the Lease records.
  const winner = reviews.find((r) => r.request.uid === allowed[0]!.json.response.uid)!.request.name;
  const holderNames = new Set(busy.map((r) => r.json.response.status.details.name));
  t.deepEqual([...holderNames], [winner], 'every denial names the admitted object');
  const leases = await s.store.list('app.kubernetes.io/managed-by=leaseguard');
  t.is(leases.length, 1);
  t.is(lockOf(leases[0])?.object.name, winner);
});

test('200 concurrent CREATEs for 200 keys: all allowed, 200 Leases', async (t) => {
  const s = await startTestServer();
  t.teardown(() => s.close());
  const results = await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      s.client.post('/validate', admissionReview({ key: `ns/Deployment/app-${i}`, name: `we-${i}` })),
    ),
  );
  t.is(results.filter((r) => r.json.response.allowed).length, 200);
  t.is((await s.store.list('app.kubernetes.io/managed-by=leaseguard')).length, 200);
});

const faultMixes: Array<[string, Fault[]]> = [
  ['timeouts', ['hang']],
  ['500s', ['500']],
  ['403s', ['403']],
  ['replies lost after the write', ['lost-reply']],
  ['all of them', ['hang', '500', '403', 'lost-reply']],
];
for (const [name, faults] of faultMixes) {
  test(`a failing store (${name}): zero duplicates, failures are 503 with a clear message`, async (t) => {
    const store = faultyStore(new MemoryLeaseStore('leaseguard-system'), faults, 0.3);
    const s = await startTestServer({ store, deadlineMs: 300 });
    t.teardown(() => s.close());
    // 20 hot keys, 10 writers each, all at once.
    const reviews = Array.from({ length: 200 }, (_, i) =>
      admissionReview({ key: `faulty/Deployment/k${i % 20}`, name: `we-${i}` }),
    );
    const results = await Promise.all(reviews.map((r) => s.client.post('/validate', r)));
    const allowedPerKey = new Map<string, number>();
    let unavailable = 0;
    results.forEach((res, i) => {
      const r = res.json.response;
      t.is(r.uid, reviews[i].request.uid);
      if (r.allowed)
        allowedPerKey.set(
          reviews[i].request.object.spec.targetResource,
          (allowedPerKey.get(reviews[i].request.object.spec.targetResource) ?? 0) + 1,
        );
      else if (r.status.code === 503) {
        unavailable++;
        t.is(r.status.reason, 'ServiceUnavailable');
        t.regex(
          r.status.message,
          /^could not verify the lock for target "faulty\/Deployment\/k\d+": .+leaseguard fails closed/,
        );
      } else t.is(r.status.code, 409);
    });
    t.true(
      [...allowedPerKey.values()].every((n) => n === 1),
      `duplicates: ${JSON.stringify([...allowedPerKey])}`,
    );
    t.true(unavailable > 0, 'faults were injected and surfaced');
    t.true(Object.values(store.injected).reduce((a, b) => a + b, 0) > 0);
  });
}

const apiFailures: Array<[ApiFailure, RegExp]> = [
  ['500', /etcdserver: request timed out/],
  ['403', /cannot get resource "leases" in API group "coordination.k8s.io"/],
  ['hang', /did not answer before the (webhook )?deadline/],
];
for (const [mode, message] of apiFailures) {
  // Serial, and timed per request over connections opened beforehand: the bound is on leaseguard's deadline, not on TLS handshakes.
  test.serial(
    `the Kubernetes store against an API server that answers ${mode}: every CREATE fails closed within the deadline`,
    async (t) => {
      const api = await startFailingApiServer(mode);
      t.teardown(() => api.close());
      const clients = await createKubeClients(api.kubeConfig);
      t.teardown(() => clients.close());
      const store = new KubeLeaseStore(clients, 'leaseguard-system');
      // A hang is cut short by the deadline; 500 and 403 must be answered before it.
      const deadlineMs = mode === 'hang' ? 400 : 3000;
      const s = await startTestServer({ store, holders: new KubeHolderReader(clients), deadlineMs });
      t.teardown(() => s.close());
      await Promise.all(Array.from({ length: 50 }, () => s.client.request('GET', '/healthz')));
      const results = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const started = performance.now();
          const r = await s.client.post(
            '/validate',
            admissionReview({ key: `down/Deployment/k${i % 5}`, name: `we-${i}` }),
          );
          return { r, ms: performance.now() - started };
        }),
      );
      t.is(results.filter(({ r }) => r.json.response.allowed).length, 0);
      for (const { r } of results) {
        t.is(r.json.response.status.code, 503);
        t.is(r.json.response.status.reason, 'ServiceUnavailable');
        t.regex(r.json.response.status.message, message);
      }
      t.true(api.requests > 0, 'the store really called the API server');
      const slowest = Math.max(...results.map((x) => x.ms));
      const fastest = Math.min(...results.map((x) => x.ms));
      t.log(`${mode}: answers after ${Math.round(fastest)}-${Math.round(slowest)} ms (deadline ${deadlineMs} ms)`);
      if (mode === 'hang') {
        // Every reply came from the deadline: not before it, and soon after it.
        t.true(fastest >= deadlineMs - 20, `a reply after ${Math.round(fastest)} ms, before the deadline`);
        t.true(slowest < deadlineMs + 1000, `a reply after ${Math.round(slowest)} ms`);
      } else {
        // The API server's answer decided, not the deadline.
        t.true(slowest < deadlineMs, `a reply after ${Math.round(slowest)} ms`);
      }
    },
  );
}

test('fail-open, when explicitly configured, admits with a warning instead of 503', async (t) => {
  const store = faultyStore(new MemoryLeaseStore('leaseguard-system'), ['500'], 1);
  const s = await startTestServer({ store, failOpen: true });
  t.teardown(() => s.close());
  const res = await s.client.post('/validate', admissionReview({ key: 'open/Deployment/api' }));
  t.true(res.json.response.allowed);
  t.regex(
    res.json.response.warnings[0],
    /^leaseguard fail-open: could not verify the lock for target "open\/Deployment\/api": .+\. The create was admitted unchecked/,
  );
  t.notRegex(res.json.response.warnings[0], /refused|fails closed/);
});

test('the embedded store at its maximum: a new key fails closed with 503 and a metric; no live lock is evicted', async (t) => {
  const store = new MemoryLeaseStore('leaseguard-system', { maxLeases: 3 });
  const s = await startTestServer({ store });
  t.teardown(() => s.close());
  for (let i = 0; i < 3; i++)
    t.true(
      (await s.client.post('/validate', admissionReview({ key: `prod/Deployment/k${i}`, name: `we-${i}` }))).json
        .response.allowed,
    );
  const full = (await s.client.post('/validate', admissionReview({ key: 'prod/Deployment/k3', name: 'we-3' }))).json
    .response;
  t.false(full.allowed);
  t.is(full.status.code, 503);
  t.is(full.status.reason, 'ServiceUnavailable');
  t.regex(full.status.message, /maximum of 3 locks \(embeddedMaxLocks\)/);
  t.is(store.size, 3, 'nothing evicted');
  const busy = (await s.client.post('/validate', admissionReview({ key: 'prod/Deployment/k0', name: 'we-other' }))).json
    .response;
  t.is(busy.status.code, 409, 'the held locks still hold');
  t.regex(await s.lg.metrics.registry.getSingleMetricAsString('leaseguard_lock_failures_total'), /reason="full"\} 1/);
});
