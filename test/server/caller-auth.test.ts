// Only the API server takes locks: with a client CA configured, /validate and /mutate
// answer only callers presenting a certificate it signed (with an allowed subject), and
// refuse the rest before any read or write; probes need no certificate.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { cliCerts, type TestCerts } from '../support/certs.js';
import { delegatingStore } from '../support/delegating-store.js';
import { HttpsClient } from '../support/https-client.js';
import { admissionReview } from '../support/reviews.js';
import { startTestServer, type TestServer } from '../support/webhook-server.js';
import { MemoryLeaseStore } from '../../src/store/memory-lease-store.js';
import { issueClientCertificate } from '../../src/tls/certificates.js';

let server: TestServer;
let own: TestCerts;
const storeCalls: string[] = [];

test.before(async () => {
  own = await cliCerts();
  const memory = new MemoryLeaseStore('leaseguard-system');
  const counted = delegatingStore(memory, {
    get: (name) => (storeCalls.push('get'), memory.get(name)),
    create: (lease) => (storeCalls.push('create'), memory.create(lease)),
  });
  server = await startTestServer({ certs: own, store: counted, clientCaFile: join(own.dir, 'ca.crt'), clientSubjects: ['kube-apiserver'] });
});
test.after.always(async () => {
  await server?.close();
});

async function identity(certs: TestCerts) {
  return { cert: await readFile(join(certs.dir, 'client.crt'), 'utf8'), key: await readFile(join(certs.dir, 'client.key'), 'utf8') };
}

const refusals: Array<[string, () => Promise<{ cert: string; key: string } | undefined>, number, string]> = [
  ['no client certificate', async () => undefined, 401, 'no-certificate'],
  ['a client certificate from another CA', async () => identity(await cliCerts()), 401, 'untrusted-certificate'],
  [
    'a certificate from the client CA with another subject',
    async () => issueClientCertificate({ cert: own.ca, key: await readFile(join(own.dir, 'ca.key'), 'utf8') }, 'mallory'),
    403,
    'subject-not-allowed',
  ],
  ['the serving certificate itself (not for client use)', async () => ({ cert: await readFile(join(own.dir, 'tls.crt'), 'utf8'), key: await readFile(join(own.dir, 'tls.key'), 'utf8') }), 401, 'untrusted-certificate'],
];

for (const [name, make, status, reason] of refusals) {
  test.serial(`refused before any read or write: ${name}`, async (t) => {
    const client = new HttpsClient(server.url, own.ca, 4, await make());
    try {
      storeCalls.length = 0;
      const before = (await server.store.list('')).length;
      for (const path of ['/validate', '/mutate']) {
        const res = await client.post(path, admissionReview({ key: `prod/Deployment/${reason}`, name: 'we-forged', namespace: 'prod' }));
        t.is(res.status, status, `${path}: ${res.text}`);
        t.regex(res.json?.error?.code ?? '', status === 403 ? /LG_CALLER_FORBIDDEN/ : /LG_CALLER_UNAUTHENTICATED/);
      }
      t.deepEqual(storeCalls, [], 'no Lease read or written');
      t.is((await server.store.list('')).length, before);
      const metrics = await server.lg.metrics.registry.getSingleMetricAsString('leaseguard_callers_refused_total');
      t.regex(metrics, new RegExp(`reason="${reason}"`));
      const log = server.logs.map((l) => JSON.parse(l) as { msg: string; reason?: string; remote?: string }).find((l) => l.msg.startsWith('admission caller refused') && l.reason === reason);
      t.is(log?.remote?.replace(/^::ffff:/, ''), '127.0.0.1', 'logged with the peer address');
    } finally {
      client.close();
    }
  });
}

test.serial('the API server (a certificate from the client CA with the allowed subject) is answered', async (t) => {
  const client = new HttpsClient(server.url, own.ca, 4, await identity(own));
  try {
    const res = await client.post('/validate', admissionReview({ key: 'prod/Deployment/real', name: 'we-real', namespace: 'prod' }));
    t.is(res.status, 200);
    t.true(res.json.response.allowed);
    t.true(storeCalls.includes('create'), 'the lock was taken');
  } finally {
    client.close();
  }
});

test.serial('probes answer callers without a certificate', async (t) => {
  const client = new HttpsClient(server.url, own.ca);
  try {
    t.is((await client.request('GET', '/healthz')).status, 200);
    t.is((await client.request('GET', '/readyz')).status, 200);
  } finally {
    client.close();
  }
});
