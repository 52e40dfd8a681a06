// The AdmissionReview protocol over real HTTPS with certificates made by `leaseguard certs`.
import test from 'ava';
import { LEASE_ANNOTATION, LOCK_KEY_ANNOTATION } from '../../src/admission/mutating-webhook.js';
import { leaseName } from '../../src/core/lease-name.js';
import { decodeLease } from '../../src/core/lock-record.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import https from 'node:https';
import { setting } from '../../src/config-schema.js';
import { DEFAULT_MAX_REVIEW_BYTES } from '../../src/server/admission-app.js';
import { admissionReview } from '../support/reviews.js';
import { startTestServer, type TestServer } from '../support/webhook-server.js';
import { sleep } from '../harness/wait.js';

let s: TestServer;
test.before(async () => {
  s = await startTestServer();
});
test.after.always(async () => {
  await s?.close();
});

test('validate: echoes the uid in exactly an AdmissionReview v1', async (t) => {
  const review = admissionReview({ key: 'proto/Deployment/echo' });
  const res = await s.client.post('/validate', review);
  t.is(res.status, 200);
  t.regex(String(res.headers['content-type']), /^application\/json/);
  t.deepEqual(res.json, {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: {
      uid: review.request.uid,
      allowed: true,
      // For the API server's audit log.
      auditAnnotations: {
        decision: 'allowed',
        key: 'proto/Deployment/echo',
        lease: `leaseguard-system/${leaseName(DEFAULT_RULES[0]!, 'proto/Deployment/echo')}`,
      },
    },
  });
});

test('validate: a busy denial is 409 Conflict naming the holder, with causes a client can branch on', async (t) => {
  const first = admissionReview({ key: 'proto/Deployment/busy', name: 'we-first', pod: 'ro-7d9f' });
  t.true((await s.client.post('/validate', first)).json.response.allowed);
  const second = admissionReview({ key: 'proto/Deployment/busy', name: 'we-second' });
  const res = await s.client.post('/validate', second);
  const r = res.json.response;
  t.is(r.uid, second.request.uid);
  t.false(r.allowed);
  t.is(r.status.code, 409);
  t.is(r.status.reason, 'Conflict');
  t.is(r.status.status, 'Failure');
  t.regex(
    r.status.message,
    /^target "proto\/Deployment\/busy" is busy: held by workflowexecution prod\/we-first \(requested by system:serviceaccount:kubernaut-system:ro on pod ro-7d9f, \d+s ago\).*retry after it completes$/,
  );
  t.like(r.status.details, { group: 'kubernaut.ai', kind: 'WorkflowExecution', name: 'we-first' });
  t.deepEqual(
    r.status.details.causes.map((c: { reason: string; field: string }) => `${c.reason}@${c.field}`),
    // The first three as before; the namespace and pending causes after them (docs/denials.md).
    [
      'FieldValueDuplicate@spec.targetResource',
      'LockHolder@metadata.name',
      'LockLease@metadata.annotations',
      'LockHolderNamespace@metadata.namespace',
      'LockPending@undefined',
    ],
  );
  t.is(r.status.details.causes[1].message, 'prod/we-first');
  t.is(r.status.details.uid, first.request.object.metadata.uid);
  t.is(r.status.details.causes[3].message, 'prod');
  // The embedded store cannot read holders: a lock stays pending until it expires.
  t.true(r.status.details.retryAfterSeconds > 0);
  t.regex(r.status.details.causes[4].message, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
});

test('validate: an invalid key is 422 Invalid with a cause on the field', async (t) => {
  const cases: Array<[unknown, string, RegExp]> = [
    [undefined, 'FieldValueRequired', /spec.targetResource is required/],
    ['', 'FieldValueRequired', /must not be empty/],
    [42, 'FieldValueInvalid', /must be a string, got number/],
    ['x'.repeat(1025), 'FieldValueTooLong', /at most 1024 bytes/],
  ];
  // A server of its own, so "nothing written" can mean an empty store.
  const own = await startTestServer();
  t.teardown(() => own.close());
  for (const [key, type, message] of cases) {
    const res = await own.client.post('/validate', admissionReview({ key }));
    const st = res.json.response.status;
    t.false(res.json.response.allowed);
    t.is(st.code, 422);
    t.is(st.reason, 'Invalid');
    t.regex(st.message, message);
    t.deepEqual(st.details.causes[0].field, 'spec.targetResource');
    t.is(st.details.causes[0].reason, type);
  }
  t.deepEqual(await own.store.list(''), [], 'no Lease of any kind was written');
  // The same server writes a Lease for a valid key, so the empty list above means something.
  t.true(
    (await own.client.post('/validate', admissionReview({ key: 'proto/Deployment/valid' }))).json.response.allowed,
  );
  t.is((await own.store.list('')).length, 1);
});

test('validate: a fingerprint key works the same for RemediationRequest', async (t) => {
  const fp = 'c'.repeat(64);
  t.true(
    (await s.client.post('/validate', admissionReview({ kind: 'RemediationRequest', key: fp, name: 'rr-1' }))).json
      .response.allowed,
  );
  const res = await s.client.post('/validate', admissionReview({ kind: 'RemediationRequest', key: fp, name: 'rr-2' }));
  t.is(res.json.response.status.code, 409);
  t.regex(res.json.response.status.message, /^fingerprint "c{64}" is busy: held by remediationrequest prod\/rr-1/);
});

test('validate: dry run gives the real verdict and writes nothing', async (t) => {
  const free = await s.client.post('/validate', admissionReview({ key: 'proto/Deployment/dry-free', dryRun: true }));
  t.true(free.json.response.allowed);
  t.is(await s.store.get(leaseName(DEFAULT_RULES[0]!, 'proto/Deployment/dry-free')), null, 'no Lease for a dry run');
  t.true(
    (await s.client.post('/validate', admissionReview({ key: 'proto/Deployment/dry-free' }))).json.response.allowed,
    'still free',
  );
  await s.client.post('/validate', admissionReview({ key: 'proto/Deployment/dry-held', name: 'holder' }));
  const held = await s.client.post('/validate', admissionReview({ key: 'proto/Deployment/dry-held', dryRun: true }));
  t.is(held.json.response.status.code, 409);
  t.is(held.json.response.status.details.name, 'holder');
});

test('validate: a retried create of the same object is allowed', async (t) => {
  const review = admissionReview({ key: 'proto/Deployment/retry', name: 'we-retry' });
  t.true((await s.client.post('/validate', review)).json.response.allowed);
  const again = admissionReview({ key: 'proto/Deployment/retry', name: 'we-retry' });
  t.true((await s.client.post('/validate', again)).json.response.allowed);
});

test('validate: an UPDATE that changes the key is denied; one that keeps it passes', async (t) => {
  const changed = await s.client.post(
    '/validate',
    admissionReview({ operation: 'UPDATE', oldKey: 'a/B/c', key: 'a/B/d' }),
  );
  t.false(changed.json.response.allowed);
  t.is(changed.json.response.status.code, 422);
  t.regex(
    changed.json.response.status.message,
    /spec.targetResource is immutable: it is the lock key \(was "a\/B\/c", now "a\/B\/d"\)/,
  );
  const kept = await s.client.post(
    '/validate',
    admissionReview({ operation: 'UPDATE', oldKey: 'a/B/c', key: 'a/B/c' }),
  );
  t.true(kept.json.response.allowed);
  const removed = await s.client.post(
    '/validate',
    admissionReview({ operation: 'UPDATE', oldKey: 'a/B/c', key: undefined }),
  );
  t.false(removed.json.response.allowed);
});

test('validate: an UPDATE giving a keyless object a key takes the lock as a create does: busy is 409, free takes it, nothing keyed is stored without a lock', async (t) => {
  const lg = await startTestServer();
  t.teardown(() => lg.close());
  const lease = (key: string) => lg.store.get(leaseName(DEFAULT_RULES[0]!, key));
  t.true(
    (await lg.client.post('/validate', admissionReview({ key: 'upd/Deployment/held', name: 'we-holder' }))).json
      .response.allowed,
  );
  for (const oldKey of [undefined, '', 42]) {
    const busy = await lg.client.post(
      '/validate',
      admissionReview({ operation: 'UPDATE', name: 'we-keyless', oldKey, key: 'upd/Deployment/held' }),
    );
    t.false(busy.json.response.allowed, `from ${JSON.stringify(oldKey)}`);
    t.is(busy.json.response.status.code, 409);
    t.is(busy.json.response.status.details.name, 'we-holder');
  }
  const dry = await lg.client.post(
    '/validate',
    admissionReview({
      operation: 'UPDATE',
      name: 'we-keyless',
      oldKey: undefined,
      key: 'upd/Deployment/free',
      dryRun: true,
    }),
  );
  t.true(dry.json.response.allowed);
  t.is(await lease('upd/Deployment/free'), null, 'a dry run writes nothing');
  const review = admissionReview({
    operation: 'UPDATE',
    name: 'we-keyless',
    oldKey: undefined,
    key: 'upd/Deployment/free',
  });
  const free = await lg.client.post('/validate', review);
  t.true(free.json.response.allowed);
  t.is(free.json.response.auditAnnotations.decision, 'allowed');
  const taken = decodeLease((await lease('upd/Deployment/free'))!);
  t.like(taken.record?.object, { name: 'we-keyless', namespace: 'prod', uid: review.request.object.metadata.uid });
  const other = await lg.client.post('/validate', admissionReview({ key: 'upd/Deployment/free', name: 'we-late' }));
  t.is(other.json.response.status.code, 409, 'the key is now held by the updated object');
  const still = await lg.client.post(
    '/validate',
    admissionReview({ operation: 'UPDATE', name: 'we-keyless', oldKey: undefined, key: undefined }),
  );
  t.true(still.json.response.allowed, 'an UPDATE that leaves it keyless passes');
  t.is(still.json.response.auditAnnotations, undefined);
});

test('validate: other kinds and operations pass untouched', async (t) => {
  for (const review of [
    admissionReview({ kind: 'Deployment', group: 'apps' }),
    admissionReview({ operation: 'DELETE' }),
    admissionReview({ kind: 'AIAnalysis' }),
  ]) {
    t.deepEqual((await s.client.post('/validate', review)).json.response, { uid: review.request.uid, allowed: true });
  }
});

test('mutate: returns a base64 JSONPatch that stamps lock key and Lease', async (t) => {
  const review = admissionReview({ key: 'proto/Deployment/mutate' });
  const res = await s.client.post('/mutate', review);
  t.is(res.status, 200);
  const r = res.json.response;
  t.is(r.uid, review.request.uid);
  t.true(r.allowed);
  t.is(r.patchType, 'JSONPatch');
  t.regex(r.patch, /^[A-Za-z0-9+/]+=*$/);
  const patch = JSON.parse(Buffer.from(r.patch, 'base64').toString('utf8'));
  t.is(patch.length, 1);
  t.is(patch[0].op, 'add');
  t.is(patch[0].path, '/metadata/annotations');
  t.is(patch[0].value[LOCK_KEY_ANNOTATION], 'proto/Deployment/mutate');
  t.regex(
    patch[0].value[LEASE_ANNOTATION],
    /^leaseguard-system\/workflowexecution-proto-deployment-mutate-[0-9a-f]{16}$/,
  );
  t.deepEqual(await s.store.get(patch[0].value[LEASE_ANNOTATION].split('/')[1]), null, 'mutation writes nothing');
});

const valid = JSON.stringify(admissionReview());
const badInputs: Array<[string, () => Promise<{ status: number; json: any }>, number, RegExp]> = [
  ['GET /validate', () => s.client.request('GET', '/validate'), 405, /GET is not allowed/],
  [
    'PUT /mutate',
    () => s.client.request('PUT', '/mutate', valid, { 'content-type': 'application/json' }),
    405,
    /PUT is not allowed/,
  ],
  ['text/plain', () => s.client.post('/validate', valid, 'text/plain'), 415, /Content-Type must be application\/json/],
  ['no content type', () => s.client.request('POST', '/validate', valid), 415, /Content-Type/],
  ['malformed JSON', () => s.client.post('/validate', '{"apiVersion":'), 400, /not valid JSON/],
  ['empty body', () => s.client.post('/validate', ''), 400, /not valid JSON/],
  [
    'v1beta1 review',
    () => s.client.post('/validate', { ...JSON.parse(valid), apiVersion: 'admission.k8s.io/v1beta1' }),
    400,
    /apiVersion must be/,
  ],
  [
    'wrong kind',
    () => s.client.post('/mutate', { ...JSON.parse(valid), kind: 'Status' }),
    400,
    /kind must be "AdmissionReview"/,
  ],
  [
    'no uid',
    () =>
      s.client.post(
        '/validate',
        (() => {
          const b = JSON.parse(valid);
          delete b.request.uid;
          return b;
        })(),
      ),
    400,
    /request.uid/,
  ],
  ['a JSON array', () => s.client.post('/validate', '[]'), 400, /JSON object/],
  [
    'a body over the 256 KiB limit',
    () => s.client.post('/validate', Buffer.alloc(DEFAULT_MAX_REVIEW_BYTES + 1, 0x20)),
    413,
    /exceeds the 262144-byte limit/,
  ],
  ['an unknown path', () => s.client.post('/admit', valid), 404, /no route POST \/admit/],
];
for (const [name, send, status, message] of badInputs) {
  test(`bad input: ${name} gets ${status} with a JSON error and the server stays up`, async (t) => {
    const res = await send();
    t.is(res.status, status);
    t.is(typeof res.json?.error?.code, 'string');
    t.regex(res.json.error.message, message);
    t.is((await s.client.request('GET', '/healthz')).status, 200);
  });
}

test('a chunked body over the limit (no Content-Length) is refused too', async (t) => {
  const res = await new Promise<number>((resolve, reject) => {
    import('node:https').then(({ default: https }) => {
      const req = https.request(
        `${s.url}/validate`,
        { method: 'POST', agent: s.client.agent, headers: { 'content-type': 'application/json' } },
        (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      const chunk = Buffer.alloc(512 * 1024, 0x20);
      for (let i = 0; i < 8; i++) req.write(chunk);
      req.end();
    }, reject);
  });
  t.is(res, 413);
});

/** A review whose object is padded (in an annotation) to about `bytes`; UPDATE reviews carry it twice. */
function padded(key: string, name: string, bytes: number, operation: 'CREATE' | 'UPDATE' = 'CREATE') {
  const review = admissionReview({ key, name, operation, oldKey: key });
  for (const o of [review.request.object, review.request.oldObject])
    if (o) o.metadata.annotations = { note: 'x'.repeat(bytes) };
  return review;
}

test('the body limit fits the guarded objects: the default (maxReviewBytes) is 256 KiB; an UPDATE of two 100 KiB objects passes', async (t) => {
  t.is(setting('maxReviewBytes').default, DEFAULT_MAX_REVIEW_BYTES);
  const res = await s.client.post('/validate', padded('proto/Deployment/sized', 'we-sized', 100 * 1024, 'UPDATE'));
  t.is(res.status, 200);
  t.true(res.json.response.allowed);
});

test('a well-formed review over the configured limit gets 413 with a JSON error, and nothing is written', async (t) => {
  const small = await startTestServer({ maxReviewBytes: 32 * 1024 });
  t.teardown(() => small.close());
  const key = 'proto/Deployment/too-big';
  const res = await small.client.post('/validate', padded(key, 'we-too-big', 40 * 1024));
  t.is(res.status, 413);
  t.is(res.json.error.code, 'LG_BAD_REQUEST');
  t.regex(res.json.error.message, /exceeds the 32768-byte limit/);
  t.deepEqual(await small.store.list(''), [], 'no Lease written');
  t.true(
    (await small.client.post('/validate', padded(key, 'we-fits', 20 * 1024))).json.response.allowed,
    'a review within it is decided',
  );
});

test('the answer deadline counts from the arrival: a body that takes longer than the deadline to arrive is refused, its lock untaken', async (t) => {
  // A 1 s deadline against a body 3 s late: a busy machine's event-loop stalls (the
  // client shares this process) cannot close that gap, nor make the quick one late.
  const slow = await startTestServer({ deadlineMs: 1000 });
  t.teardown(() => slow.close());
  const body = Buffer.from(JSON.stringify(admissionReview({ key: 'proto/Deployment/trickle', name: 'we-trickle' })));
  const answer = await new Promise<{ status: number; json: any }>((resolve, reject) => {
    const req = https.request(
      `${slow.url}/validate`,
      {
        method: 'POST',
        agent: slow.client.agent,
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) }));
      },
    );
    req.on('error', reject);
    req.write(body.subarray(0, 100));
    setTimeout(() => req.end(body.subarray(100)), 3000);
  });
  t.is(answer.status, 200);
  t.false(answer.json.response.allowed, 'refused: its deadline passed while the body arrived');
  t.is(answer.json.response.status.code, 503);
  t.deepEqual(await slow.store.list(''), [], 'no Lease written');
  const quick = await slow.client.post(
    '/validate',
    admissionReview({ key: 'proto/Deployment/trickle', name: 'we-quick' }),
  );
  t.true(quick.json.response.allowed, 'the same request sent at once is admitted');
});

test('probes: /healthz and /readyz answer 200 while serving', async (t) => {
  t.deepEqual((await s.client.request('GET', '/healthz')).json, { status: 'ok' });
  const ready = await s.client.request('GET', '/readyz');
  t.is(ready.status, 200);
  t.true(ready.json.ready);
});

test('busy denials for one lock are logged once a second with the count left out; metrics count every one', async (t) => {
  // Its own server: the contention counter is per kind, and other tests run alongside.
  const s = await startTestServer();
  t.teardown(() => s.close());
  const key = 'proto/Deployment/storm';
  const contention = async () => (await s.lg.metrics.lockContention.get()).values.reduce((n, v) => n + v.value, 0);
  const before = await contention();
  t.true((await s.client.post('/validate', admissionReview({ key, name: 'we-storm-0' }))).json.response.allowed);
  for (let i = 1; i <= 30; i++)
    t.is(
      (await s.client.post('/validate', admissionReview({ key, name: `we-storm-${i}` }))).json.response.status.code,
      409,
    );
  await sleep(1100);
  t.is(
    (await s.client.post('/validate', admissionReview({ key, name: 'we-storm-31' }))).json.response.status.code,
    409,
  );
  const logged = s.logs
    .map((l) => JSON.parse(l) as { decision?: string; key?: string; busyDenialsNotLogged?: number })
    .filter((l) => l.decision === 'denied-busy' && l.key === key);
  t.true(logged.length >= 2 && logged.length <= 4, `${logged.length} busy lines for 31 denials in about 1.2 s`);
  t.is(
    logged.length + logged.reduce((n, l) => n + (l.busyDenialsNotLogged ?? 0), 0),
    31,
    'every denial is either logged or counted in the next logged line',
  );
  t.is((await contention()) - before, 31);
});

test('bad requests are counted and logged', async (t) => {
  await s.client.post('/validate', 'nope');
  const metrics = await s.lg.metrics.registry.getSingleMetricAsString('leaseguard_bad_requests_total');
  t.regex(metrics, /leaseguard_bad_requests_total\{reason="400"\} [1-9]/);
  t.true(s.logs.some((l) => l.includes('"bad admission request"') && l.includes('not valid JSON')));
});

test('validate: a take-over from a finished holder is admitted with a warning kubectl prints, naming the holder and why', async (t) => {
  const holderUid = 'uid-we-done';
  // The earlier holder, read live, has finished (Completed) and still has this key.
  const done = await startTestServer({
    holders: {
      read: async () => ({
        kind: 'terminal',
        uid: holderUid,
        phase: 'Completed',
        lease: leaseName(DEFAULT_RULES[0]!, 'proto/Deployment/takeover'),
      }),
    },
  });
  t.teardown(() => done.close());
  const first = await done.client.post(
    '/validate',
    admissionReview({ key: 'proto/Deployment/takeover', name: 'we-done', objectUid: holderUid }),
  );
  t.is(first.json.response.allowed, true);
  t.is(first.json.response.warnings, undefined, 'a fresh lock warns of nothing');
  const next = await done.client.post(
    '/validate',
    admissionReview({ key: 'proto/Deployment/takeover', name: 'we-next' }),
  );
  t.is(next.json.response.allowed, true);
  t.deepEqual(next.json.response.warnings, [
    'leaseguard: took over the lock on target "proto/Deployment/takeover" from finished workflowexecution prod/we-done',
  ]);
  t.is(next.json.response.auditAnnotations.takeover, 'holder-terminal');
});
