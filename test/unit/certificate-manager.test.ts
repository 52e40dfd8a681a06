// The certificate manager against an API server fake that keeps objects by path and
// records every call: what it writes, in which order, and what it serves from certDir.
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, readlink, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ApiException } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { KubeClients } from '../../src/kube/kube-client.js';
import { createMetrics } from '../../src/metrics.js';
import {
  CertificateManager,
  ISSUED_CAS_ANNOTATION,
  issuedCas,
  splitBundle,
} from '../../src/tls/certificate-manager.js';
import { generateCertificates } from '../../src/tls/certificates.js';

type Obj = Record<string, any>;

const SECRET = '/api/v1/namespaces/lg/secrets/lg-tls';
const VWC = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/lg';
const MWC = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/lg';

class FakeApi {
  readonly objects = new Map<string, Obj>();
  readonly calls: string[] = [];
  #rv = 1;
  /** Runs before a write lands (to let a competitor write first). */
  beforeWrite: ((method: string, path: string) => void) | undefined;

  put(path: string, o: Obj): void {
    this.objects.set(path, {
      ...structuredClone(o),
      metadata: { ...(o.metadata ?? {}), resourceVersion: String(this.#rv++) },
    });
  }

  readonly json: KubeClients['json'] = async (method, path, body) => {
    this.calls.push(`${method} ${path}`);
    const fail = (code: number, reason: string) => {
      throw new ApiException(code, reason, JSON.stringify({ reason, message: reason }), {});
    };
    const target = method === 'POST' ? `${path}/${(body as Obj).metadata.name}` : path;
    const current = this.objects.get(target);
    if (method === 'GET') return current ? structuredClone(current) : fail(404, 'NotFound');
    this.beforeWrite?.(method, target);
    const now = this.objects.get(target);
    if (method === 'POST') {
      if (now) fail(409, 'AlreadyExists');
      this.put(target, body as Obj);
    } else if (method === 'PUT') {
      if (!now) fail(404, 'NotFound');
      if ((body as Obj).metadata.resourceVersion !== now!.metadata.resourceVersion) fail(409, 'Conflict');
      this.put(target, body as Obj);
    } else {
      if (!now) fail(404, 'NotFound');
      const next = structuredClone(now!);
      for (const op of body as Obj[]) {
        if (op.op === 'test' && op.path === '/metadata/resourceVersion' && op.value !== now!.metadata.resourceVersion)
          fail(409, 'Conflict');
        if (op.op === 'add') {
          const [, , i] = (op.path as string).split('/');
          next.webhooks[Number(i)].clientConfig.caBundle = op.value;
        }
      }
      this.put(target, next);
    }
    return structuredClone(this.objects.get(target));
  };
}

async function setup(lifetimeMs = 60_000, now = { t: Date.now() }) {
  const api = new FakeApi();
  const hook = (caBundle?: string) => ({
    metadata: { name: 'lg' },
    webhooks: [{ name: 'w', clientConfig: { url: 'https://x', ...(caBundle ? { caBundle } : {}) } }],
  });
  api.put(VWC, hook());
  api.put(MWC, hook());
  const certDir = await mkdtemp(join(tmpdir(), 'lg-cm-'));
  const logs: string[] = [];
  const manager = new CertificateManager({
    kube: { json: api.json } as KubeClients,
    namespace: 'lg',
    secretName: 'lg-tls',
    names: ['lg.lg.svc', 'localhost'],
    lifetimeMs,
    webhookName: 'lg',
    certDir,
    metrics: createMetrics(new Registry(), { defaultMetrics: false }),
    logger: pino({ level: 'info' }, { write: (l: string) => void logs.push(l) }),
    now: () => now.t,
  });
  return { api, manager, certDir, now, logs };
}

const secretData = (api: FakeApi) => api.objects.get(SECRET)!.data as Record<string, string>;
const b64pems = (b64: string) => splitBundle(Buffer.from(b64, 'base64').toString()).map((c) => c.fingerprint256);
const bundleOf = (api: FakeApi, path: string) =>
  b64pems(api.objects.get(path)!.webhooks[0].clientConfig.caBundle ?? '');

test('a first replica with no Secret issues one, trusts its CA in both webhook configurations, and serves it from certDir', async (t) => {
  const { api, manager, certDir } = await setup();
  t.true(await manager.reconcile(false));
  const data = secretData(api);
  const ca = b64pems(data['ca.crt']!);
  t.is(ca.length, 1);
  t.deepEqual(bundleOf(api, VWC), ca);
  t.deepEqual(bundleOf(api, MWC), ca);
  // Trusted before written: both patches precede the Secret's create.
  const create = api.calls.indexOf('POST /api/v1/namespaces/lg/secrets');
  t.true(
    api.calls.indexOf(`PATCH ${VWC}`) < create && api.calls.indexOf(`PATCH ${MWC}`) < create,
    api.calls.join('\n'),
  );
  t.is(await readFile(join(certDir, 'tls.crt'), 'utf8'), Buffer.from(data['tls.crt']!, 'base64').toString());
  t.regex(await readlink(join(certDir, '..data')), /^\.\./);
  const served = new X509Certificate(await readFile(join(certDir, 'tls.crt')));
  t.true(served.subjectAltName!.includes('DNS:lg.lg.svc'));
});

test('only the leader renews a certificate that can still be served; anyone replaces one that cannot', async (t) => {
  const { api, manager, now } = await setup(60_000);
  await manager.reconcile(false);
  const first = secretData(api)['tls.crt'];
  now.t += 45_000; // a quarter of its life left
  t.false(await manager.reconcile(false), 'a follower serves what is there');
  t.is(secretData(api)['tls.crt'], first);
  t.true(await manager.reconcile(true), 'the leader renews');
  t.not(secretData(api)['tls.crt'], first);
  now.t += 61_000; // expired
  t.true(await manager.reconcile(false), 'an expired certificate is replaced by whoever sees it');
});

test('a CA rotation: the new CA is trusted before the Secret names it, the old one stays trusted and in the bundle until it expires', async (t) => {
  const { api, manager, now } = await setup(60_000);
  await manager.reconcile(true);
  const [ca1] = b64pems(secretData(api)['ca.crt']!);
  now.t += 2 * 60_000 + 1; // the CA has less than two lifetimes left
  api.calls.length = 0;
  await manager.reconcile(true);
  const cas = b64pems(secretData(api)['ca.crt']!);
  t.is(cas.length, 2);
  t.is(cas[1], ca1, 'the old CA is kept, after the new signer');
  const put = api.calls.indexOf(`PUT ${SECRET}`);
  t.true(put > api.calls.indexOf(`PATCH ${VWC}`) && put > api.calls.indexOf(`PATCH ${MWC}`), api.calls.join('\n'));
  t.deepEqual(bundleOf(api, VWC), cas);
  now.t += 2 * 60_000 + 1; // the first CA has expired
  await manager.reconcile(true);
  t.false(b64pems(secretData(api)['ca.crt']!).includes(ca1!), 'dropped from the Secret once expired');
  t.false(bundleOf(api, VWC).includes(ca1!), 'and from caBundle');
});

test('caBundle is exactly the unexpired CAs leaseguard issued: a CA put into the Secret is never trusted, and once the Secret is restored caBundle holds its CAs and no other', async (t) => {
  const { api, manager, logs, now } = await setup();
  await manager.reconcile(true);
  const own = b64pems(secretData(api)['ca.crt']!);
  t.deepEqual(Object.keys(api.objects.get(SECRET)!.metadata.annotations), [ISSUED_CAS_ANNOTATION]);
  t.deepEqual(issuedCas(api.objects.get(SECRET)), new Set(own), 'the Secret records what leaseguard issued');

  // Someone else appends their CA to ca.crt (the record unchanged): not published.
  const foreign = await generateCertificates({ serviceName: 'x', namespace: 'y' });
  const foreignFp = new X509Certificate(foreign.caCert).fingerprint256;
  const restored = structuredClone(api.objects.get(SECRET)!);
  const planted = structuredClone(restored);
  planted.data['ca.crt'] = Buffer.from(
    Buffer.from(planted.data['ca.crt'], 'base64').toString() + foreign.caCert,
  ).toString('base64');
  api.put(SECRET, planted);
  // A CA someone added to caBundle by hand is there too.
  const handAdded = await generateCertificates({ serviceName: 'z', namespace: 'y' });
  api.objects.get(VWC)!.webhooks[0].clientConfig.caBundle = Buffer.from(
    `${Buffer.from(api.objects.get(VWC)!.webhooks[0].clientConfig.caBundle, 'base64').toString()}${handAdded.caCert}`,
  ).toString('base64');
  now.t += 1000;
  await manager.reconcile(true);
  t.deepEqual(bundleOf(api, VWC), own, 'neither the planted nor the hand-added CA is trusted');
  t.deepEqual(bundleOf(api, MWC), own);
  t.true(
    logs.some((l) => l.includes('did not issue') && l.includes(foreignFp)),
    'and leaseguard says so',
  );

  // The Secret restored: still exactly its own.
  api.put(SECRET, restored);
  now.t += 1000;
  await manager.reconcile(true);
  t.deepEqual(bundleOf(api, VWC), own);
});

test("a Secret whose signer leaseguard did not issue (ca.crt and ca.key replaced) is re-issued from leaseguard's own CA; the foreign one is dropped", async (t) => {
  const { api, manager, now } = await setup();
  await manager.reconcile(true);
  const foreign = await generateCertificates({ serviceName: 'lg', namespace: 'lg', extraNames: ['lg.lg.svc'] });
  const foreignFp = new X509Certificate(foreign.caCert).fingerprint256;
  const secret = structuredClone(api.objects.get(SECRET)!);
  const pems = { 'ca.crt': foreign.caCert, 'ca.key': foreign.caKey, 'tls.crt': foreign.cert, 'tls.key': foreign.key };
  secret.data = Object.fromEntries(Object.entries(pems).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
  api.put(SECRET, secret);
  now.t += 1000;
  await manager.reconcile(true);
  const cas = b64pems(secretData(api)['ca.crt']!);
  t.false(cas.includes(foreignFp), 'not kept in the bundle');
  t.deepEqual(issuedCas(api.objects.get(SECRET)), new Set(cas));
  t.deepEqual(bundleOf(api, VWC), cas);
  t.false(bundleOf(api, VWC).includes(foreignFp));
});

test('two replicas issuing at once: the one that loses the race serves what the winner wrote', async (t) => {
  const { api, manager, certDir } = await setup();
  // Both saw no Secret; the competitor's create lands just before this one's.
  const competitor = await generateCertificates({ serviceName: 'lg', namespace: 'lg', extraNames: ['lg.lg.svc'] });
  api.beforeWrite = (method, path) => {
    if (method === 'POST' && path === SECRET && !api.objects.has(SECRET)) {
      const pems = {
        'ca.crt': competitor.caCert,
        'ca.key': competitor.caKey,
        'tls.crt': competitor.cert,
        'tls.key': competitor.key,
      };
      api.put(SECRET, {
        metadata: { name: 'lg-tls' },
        data: Object.fromEntries(Object.entries(pems).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      });
    }
  };
  // The competitor trusted its CA before writing, as this replica does.
  const competitorFp = new X509Certificate(competitor.caCert).fingerprint256;
  for (const path of [VWC, MWC])
    api.objects.get(path)!.webhooks[0].clientConfig.caBundle = Buffer.from(competitor.caCert).toString('base64');
  t.true(await manager.reconcile(false));
  t.is(await readFile(join(certDir, 'tls.crt'), 'utf8'), competitor.cert, "the winner's certificate is served");
  t.is(secretData(api)['tls.crt'], Buffer.from(competitor.cert).toString('base64'), 'and not overwritten');
  t.true(bundleOf(api, VWC).includes(competitorFp), "the winner's CA is still trusted");
  t.true(bundleOf(api, MWC).includes(competitorFp));
  // The leader's next check leaves only what the Secret names (the loser's CA goes).
  await manager.reconcile(true);
  t.deepEqual(bundleOf(api, VWC), [competitorFp]);
});

test('a replica about to serve a pair trusts its CA first: a reinstall keeps the Secret but its webhook configurations come back without caBundle', async (t) => {
  const { api, manager, now } = await setup();
  await manager.reconcile(true);
  const cas = b64pems(secretData(api)['ca.crt']!);
  for (const path of [VWC, MWC]) delete api.objects.get(path)!.webhooks[0].clientConfig.caBundle;
  // A new Pod's first check, not the leader: nothing to issue, the pair is new to it.
  const fresh = await setup(60_000, now);
  fresh.api.objects.clear();
  for (const [k, v] of api.objects) fresh.api.objects.set(k, v);
  fresh.api.calls.length = 0;
  t.true(await fresh.manager.reconcile(false));
  t.deepEqual(bundleOf(fresh.api, VWC), cas);
  t.deepEqual(bundleOf(fresh.api, MWC), cas);
  t.false(
    fresh.api.calls.some((c) => c.startsWith('PUT') || c.startsWith('POST')),
    'nothing issued',
  );
  // Served already: later checks read nothing more than the Secret.
  fresh.api.calls.length = 0;
  t.false(await fresh.manager.reconcile(false));
  t.deepEqual(fresh.api.calls, [`GET ${SECRET}`]);
});

test('a ..data_tmp left by a write that died midway does not wedge the next one, and no version directory is left behind', async (t) => {
  const { manager, certDir } = await setup();
  // What a replica killed between the symlink and the rename leaves, with the directory it wrote.
  await mkdir(join(certDir, '..111.222'));
  await symlink('..111.222', join(certDir, '..data_tmp'));
  t.true(await manager.reconcile(false));
  const served = await readlink(join(certDir, '..data'));
  t.true(new X509Certificate(await readFile(join(certDir, 'tls.crt'))).subjectAltName!.includes('DNS:lg.lg.svc'));
  t.deepEqual(
    (await readdir(certDir)).filter((e) => e.startsWith('..')).sort(),
    ['..data', served].sort(),
    'only ..data and the version it names',
  );
});
