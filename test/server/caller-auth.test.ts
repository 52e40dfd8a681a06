// Only the API server takes locks: with a client CA configured, /validate and /mutate
// answer only callers presenting a certificate it signed (with an allowed subject, read as
// Kubernetes reads it: the last CN, SANs only when asked), and refuse the rest before any
// read or write; probes need no certificate. A caller is who it was at the handshake: no
// renegotiation, and no connection outlives the client CA that verified it.
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import test from 'ava';
import { cliCerts, shapedClientCertificate, type TestCerts } from '../harness/certs.js';
import { delegatingStore } from '../support/delegating-store.js';
import { HttpsClient } from '../harness/https-client.js';
import { admissionReview } from '../support/reviews.js';
import { startTestServer, type TestServer } from '../support/webhook-server.js';
import { MemoryLeaseStore } from '../../src/store/memory-lease-store.js';
import { issueClientCertificate } from '../../src/tls/certificates.js';
import { sleep } from '../harness/wait.js';

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
  server = await startTestServer({
    certs: own,
    store: counted,
    clientCaFile: join(own.dir, 'ca.crt'),
    clientSubjects: ['kube-apiserver'],
  });
});
test.after.always(async () => {
  await server?.close();
});

const ownCa = async () => ({ cert: own.ca, key: await readFile(join(own.dir, 'ca.key'), 'utf8') });

async function identity(certs: TestCerts) {
  return {
    cert: await readFile(join(certs.dir, 'client.crt'), 'utf8'),
    key: await readFile(join(certs.dir, 'client.key'), 'utf8'),
  };
}

const refusals: Array<[string, () => Promise<{ cert: string; key: string } | undefined>, number, string]> = [
  ['no client certificate', async () => undefined, 401, 'no-certificate'],
  ['a client certificate from another CA', async () => identity(await cliCerts()), 401, 'untrusted-certificate'],
  [
    'a certificate from the client CA with another subject',
    async () =>
      issueClientCertificate({ cert: own.ca, key: await readFile(join(own.dir, 'ca.key'), 'utf8') }, 'mallory'),
    403,
    'subject-not-allowed',
  ],
  [
    'a certificate from the client CA whose DNS SAN is the allowed subject, with another CN (Kubernetes reads the CN)',
    async () => shapedClientCertificate(await ownCa(), [{ name: 'commonName', value: 'mallory' }], ['kube-apiserver']),
    403,
    'subject-not-allowed',
  ],
  [
    'a certificate from the client CA with two CNs, the allowed one first (Kubernetes reads the last)',
    async () =>
      shapedClientCertificate(await ownCa(), [
        { name: 'commonName', value: 'kube-apiserver' },
        { name: 'commonName', value: 'mallory' },
      ]),
    403,
    'subject-not-allowed',
  ],
  [
    'the serving certificate itself (not for client use)',
    async () => ({
      cert: await readFile(join(own.dir, 'tls.crt'), 'utf8'),
      key: await readFile(join(own.dir, 'tls.key'), 'utf8'),
    }),
    401,
    'untrusted-certificate',
  ],
];

for (const [name, make, status, reason] of refusals) {
  test.serial(`refused before any read or write: ${name}`, async (t) => {
    const client = new HttpsClient(server.url, own.ca, 4, await make());
    t.teardown(() => client.close());
    storeCalls.length = 0;
    const before = (await server.store.list('')).length;
    for (const path of ['/validate', '/mutate']) {
      const res = await client.post(
        path,
        admissionReview({ key: `prod/Deployment/${reason}`, name: 'we-forged', namespace: 'prod' }),
      );
      t.is(res.status, status, `${path}: ${res.text}`);
      t.regex(res.json?.error?.code ?? '', status === 403 ? /LG_CALLER_FORBIDDEN/ : /LG_CALLER_UNAUTHENTICATED/);
    }
    t.deepEqual(storeCalls, [], 'no Lease read or written');
    t.is((await server.store.list('')).length, before);
    const metrics = await server.lg.metrics.registry.getSingleMetricAsString('leaseguard_callers_refused_total');
    t.regex(metrics, new RegExp(`reason="${reason}"`));
    const log = server.logs
      .map((l) => JSON.parse(l) as { msg: string; reason?: string; remote?: string })
      .find((l) => l.msg.startsWith('admission caller refused') && l.reason === reason);
    t.is(log?.remote?.replace(/^::ffff:/, ''), '127.0.0.1', 'logged with the peer address');
  });
}

test.serial('the API server (a certificate from the client CA with the allowed subject) is answered', async (t) => {
  const client = new HttpsClient(server.url, own.ca, 4, await identity(own));
  t.teardown(() => client.close());
  const res = await client.post(
    '/validate',
    admissionReview({ key: 'prod/Deployment/real', name: 'we-real', namespace: 'prod' }),
  );
  t.is(res.status, 200);
  t.true(res.json.response.allowed);
  t.true(storeCalls.includes('create'), 'the lock was taken');
});

test.serial('probes answer callers without a certificate', async (t) => {
  const client = new HttpsClient(server.url, own.ca);
  t.teardown(() => client.close());
  t.is((await client.request('GET', '/healthz')).status, 200);
  t.is((await client.request('GET', '/readyz')).status, 200);
});

test.serial(
  'a certificate from the client CA with two CNs, the allowed one last, is the allowed user (as Kubernetes reads it)',
  async (t) => {
    const cert = await shapedClientCertificate(await ownCa(), [
      { name: 'commonName', value: 'mallory' },
      { name: 'commonName', value: 'kube-apiserver' },
    ]);
    const client = new HttpsClient(server.url, own.ca, 4, cert);
    t.teardown(() => client.close());
    const res = await client.post(
      '/validate',
      admissionReview({ key: 'prod/Deployment/two-cns', name: 'we-two-cns', namespace: 'prod' }),
    );
    t.is(res.status, 200, res.text);
    t.true(res.json.response.allowed);
  },
);

test.serial('with clientSubjectsMatchSans, a DNS SAN among clientSubjects is accepted', async (t) => {
  const sans = await startTestServer({
    certs: own,
    clientCaFile: join(own.dir, 'ca.crt'),
    clientSubjects: ['kube-apiserver'],
    clientSubjectsMatchSans: true,
  });
  t.teardown(() => sans.close());
  const client = new HttpsClient(
    sans.url,
    own.ca,
    4,
    await shapedClientCertificate(await ownCa(), [{ name: 'commonName', value: 'mallory' }], ['kube-apiserver']),
  );
  t.teardown(() => client.close());
  const res = await client.post(
    '/validate',
    admissionReview({ key: 'prod/Deployment/san', name: 'we-san', namespace: 'prod' }),
  );
  t.is(res.status, 200, res.text);
});

/** A TLS connection to `port` presenting `id`, at most TLS 1.2 unless told. */
function connect(
  port: number,
  ca: string,
  id: { cert: string; key: string },
  maxVersion: tls.SecureVersion = 'TLSv1.2',
): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca, ...id, maxVersion }, () =>
      resolve(socket),
    );
    socket.once('error', reject);
  });
}

/** One HTTP/1.1 request on `socket` (kept alive); the status line, or undefined when the connection closes first. */
function exchange(socket: tls.TLSSocket, body: string, timeoutMs = 3000): Promise<string | undefined> {
  return new Promise((resolve) => {
    let text = '';
    const done = (v: string | undefined) => {
      clearTimeout(timer);
      socket.off('data', onData).off('close', onClose);
      resolve(v);
    };
    const onData = (d: Buffer) => {
      text += d.toString();
      const [head, rest] = text.split('\r\n\r\n', 2);
      const length = Number(/content-length: (\d+)/i.exec(head ?? '')?.[1]);
      if (rest !== undefined && rest.length >= length) done(head!.split('\r\n')[0]);
    };
    const onClose = () => done(undefined);
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.on('data', onData).on('close', onClose);
    if (socket.destroyed) return done(undefined);
    socket.write(
      `POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  });
}

test.serial(
  'a caller that renegotiates TLS 1.2 is cut off: the connection closes and nothing more is answered on it',
  async (t) => {
    const socket = await connect(server.server.admissionPort, own.ca, await identity(own));
    socket.on('error', () => {});
    t.teardown(() => socket.destroy());
    t.is(socket.getProtocol(), 'TLSv1.2');
    const review = (n: string) =>
      JSON.stringify(admissionReview({ key: `prod/Deployment/reneg-${n}`, name: `we-reneg-${n}`, namespace: 'prod' }));
    t.is(await exchange(socket, review('1')), 'HTTP/1.1 200 OK', 'answered before');
    // Node's client cannot present another certificate on renegotiation (OpenSSL's can):
    // any renegotiation is refused, whatever it would present.
    const renegotiated = await new Promise<Error | null>((resolve) => {
      socket.once('close', () => resolve(new Error('closed')));
      socket.renegotiate({ rejectUnauthorized: true }, (err) => resolve(err ?? null));
    });
    t.truthy(renegotiated, 'the renegotiation did not complete');
    storeCalls.length = 0;
    t.is(await exchange(socket, review('2')), undefined, 'nothing answered after it');
    t.deepEqual(storeCalls, [], 'no Lease read or written');
    await sleep(100);
    t.true(socket.destroyed);
    t.regex(
      await server.lg.metrics.registry.getSingleMetricAsString('leaseguard_callers_refused_total'),
      /reason="renegotiation"\} [1-9]/,
    );
  },
);

test.serial(
  'a kept-alive connection is closed when the client CA changes to one that does not hold its issuer, kept when it still does',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'lg-client-ca-'));
    const caFile = join(dir, 'client-ca.crt');
    await copyFile(join(own.dir, 'ca.crt'), caFile);
    const s = await startTestServer({ certs: own, clientCaFile: caFile, clientSubjects: ['kube-apiserver'] });
    t.teardown(() => s.close());
    const other = await cliCerts();
    const sockets: tls.TLSSocket[] = [];
    t.teardown(() => {
      for (const socket of sockets) socket.destroy();
    });
    const open = async (maxVersion: tls.SecureVersion) => {
      const socket = await connect(s.server.admissionPort, own.ca, await identity(own), maxVersion);
      socket.on('error', () => {});
      sockets.push(socket);
      t.is(
        await exchange(socket, JSON.stringify(admissionReview({ key: `prod/Deployment/ca-${sockets.length}` }))),
        'HTTP/1.1 200 OK',
      );
      return socket;
    };
    const idle = await open('TLSv1.3');
    // A bundle that still holds the old CA (a rotation's first step) keeps the connection.
    await writeFile(caFile, `${own.ca}${other.ca}`);
    await s.server.reloader.reload();
    t.is(
      await exchange(idle, JSON.stringify(admissionReview({ key: 'prod/Deployment/ca-kept' }))),
      'HTTP/1.1 200 OK',
      'still trusted: still served',
    );

    const closed = new Promise<void>((resolve) => idle.once('close', () => resolve()));
    await writeFile(caFile, other.ca);
    await s.server.reloader.reload();
    await Promise.race([
      closed,
      new Promise((_, reject) => setTimeout(() => reject(new Error('the connection stayed open')), 3000)),
    ]);
    t.true(idle.destroyed, 'closed by the server');
    // A new connection with the old certificate is verified by the new CA: refused.
    const again = await connect(s.server.admissionPort, own.ca, await identity(own));
    sockets.push(again);
    again.on('error', () => {});
    t.is(
      await exchange(again, JSON.stringify(admissionReview({ key: 'prod/Deployment/ca-new' }))),
      'HTTP/1.1 401 Unauthorized',
    );
  },
);
