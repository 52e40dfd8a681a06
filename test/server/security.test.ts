// TLS settings, request limits and untrusted identity hints, against the real HTTPS server.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import test from 'ava';
import { MANAGED_SELECTOR } from '../../src/core/lock-record.js';
import { admissionReview } from '../support/reviews.js';
import { clientHello, sendHello } from '../support/tls-hello.js';
import { startTestServer, type TestServer } from '../support/webhook-server.js';
import { lockOf } from '../support/lock-of.js';

let s: TestServer;
test.before(async () => {
  s = await startTestServer({ requestTimeoutMs: 1500, headersTimeoutMs: 1000 });
});
test.after.always(async () => {
  await s?.close();
});

/** `openssl s_client` with the given flags (stdin closed, so it hangs up after the handshake). */
function handshake(port: number, flags: string[]): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-brief', ...flags], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('close', () => {
      clearTimeout(timer);
      resolve({ ok: out.includes('CONNECTION ESTABLISHED') && !/alert|handshake failure/i.test(out), out });
    });
  });
}

/** A deliberately permissive server, to show the weak clients below can connect at all. */
async function permissiveServer(): Promise<{ port: number; close(): void }> {
  const [cert, key] = await Promise.all([readFile(`${s.certs.dir}/tls.crt`), readFile(`${s.certs.dir}/tls.key`)]);
  const srv = https.createServer({ cert, key, minVersion: 'TLSv1', ciphers: 'ALL:@SECLEVEL=0' }, (_q, r) =>
    r.end('ok'),
  );
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as AddressInfo).port, close: () => srv.close() };
}

// Each weak offer twice: as a ClientHello written byte by byte (offers exactly that, on any
// machine), and through `openssl s_client` where the local OpenSSL can still offer it
// (shown against a permissive server first).
const TLS12 = 0x0303;
const ECDHE_RSA_AES128_GCM = 0xc02f;
const weakClients: Array<[string, string[], number, number[]]> = [
  ['TLS 1.0', ['-tls1', '-cipher', 'ALL:@SECLEVEL=0'], 0x0301, [0xc013, 0x002f, 0x000a]],
  ['TLS 1.1', ['-tls1_1', '-cipher', 'ALL:@SECLEVEL=0'], 0x0302, [0xc013, 0x002f, 0x000a]],
  [
    'TLS 1.2 with a CBC cipher without forward secrecy',
    ['-tls1_2', '-cipher', 'AES128-SHA:@SECLEVEL=0'],
    TLS12,
    [0x002f],
  ],
  ['TLS 1.2 with 3DES', ['-tls1_2', '-cipher', 'DES-CBC3-SHA:@SECLEVEL=0'], TLS12, [0x000a]],
];

test.serial('TLS: the byte-level ClientHello is answered with a ServerHello when it offers ECDHE-GCM', async (t) => {
  const answer = await sendHello(s.server.admissionPort, clientHello(TLS12, [ECDHE_RSA_AES128_GCM]));
  t.deepEqual(answer, { kind: 'server-hello', suite: ECDHE_RSA_AES128_GCM });
});

for (const [name, flags, version, suites] of weakClients) {
  test.serial(`TLS: a client offering only ${name} is refused`, async (t) => {
    const answer = await sendHello(s.server.admissionPort, clientHello(version, suites));
    // 40 handshake_failure (no suite in common) or 70 protocol_version.
    t.is(answer.kind, 'alert', JSON.stringify(answer));
    if (answer.kind === 'alert') t.true([40, 70].includes(answer.description), `alert ${answer.description}`);
    const control = await permissiveServer();
    t.teardown(() => control.close());
    // The same hello to a permissive server shows the refusal is leaseguard's settings, not the runtime.
    const permissive = await sendHello(control.port, clientHello(version, suites));
    if (permissive.kind !== 'server-hello')
      t.log(`this Node.js cannot serve ${name} even when allowed to (${JSON.stringify(permissive)})`);
    const against = await handshake(control.port, flags);
    if (!against.ok) return t.log(`this OpenSSL cannot offer ${name}; only the byte-level hello checked it`);
    const r = await handshake(s.server.admissionPort, flags);
    t.false(r.ok, r.out);
  });
}

test.serial('TLS: 1.2 with ECDHE-GCM and 1.3 are accepted', async (t) => {
  t.true((await handshake(s.server.admissionPort, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256'])).ok);
  t.true((await handshake(s.server.admissionPort, ['-tls1_3'])).ok);
});

test('no plaintext: an HTTP request to the admission port gets no HTTP answer', async (t) => {
  const reply = await new Promise<string>((resolve) => {
    const sock = net.connect(s.server.admissionPort, '127.0.0.1', () =>
      sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'),
    );
    let data = '';
    sock.on('data', (d) => (data += d.toString('latin1')));
    sock.on('close', () => resolve(data));
    sock.on('error', () => resolve(data));
    setTimeout(() => sock.destroy(), 3000);
  });
  t.false(reply.startsWith('HTTP/'), 'never answered in plaintext');
});

test('limits: a request with 20 KiB of headers is refused with 431', async (t) => {
  const res = await s.client.request('POST', '/validate', '{}', {
    'content-type': 'application/json',
    'x-padding': 'a'.repeat(20 * 1024),
  });
  t.is(res.status, 431);
  // Just under the 16 KiB limit is read (and answered as the request it is).
  const under = await s.client.request('POST', '/validate', '{}', {
    'content-type': 'application/json',
    'x-padding': 'a'.repeat(15 * 1024),
  });
  t.is(under.status, 400);
  t.is((await s.client.request('GET', '/healthz')).status, 200);
});

test('limits: a client that never finishes its headers is cut off', async (t) => {
  const started = performance.now();
  const closed = await new Promise<string>((resolve) => {
    const sock = tls.connect(
      { port: s.server.admissionPort, host: '127.0.0.1', ca: s.certs.ca, servername: 'localhost' },
      () => sock.write('POST /validate HTTP/1.1\r\nHost: x\r\n'),
    );
    let data = '';
    sock.on('data', (d) => (data += d.toString()));
    sock.on('close', () => resolve(data));
    sock.on('error', () => resolve(data));
    setTimeout(() => sock.destroy(), 10_000);
  });
  const waited = performance.now() - started;
  // The headers timeout (1 s here) plus at most one check interval (1 s), and a second of slack.
  t.true(waited >= 900 && waited < 3_000, `closed after ${Math.round(waited)} ms`);
  t.regex(closed, /^HTTP\/1\.1 408 /, `answer: ${JSON.stringify(closed.slice(0, 40))}`);
});

test('limits: the production server cuts off headers after 10 s and whole requests after 15 s', async (t) => {
  const defaults = await startTestServer();
  t.teardown(() => defaults.close());
  t.is(defaults.server.https.headersTimeout, 10_000);
  t.is(defaults.server.https.requestTimeout, 15_000);
});

test('limits: a client that trickles its body is cut off with 408', async (t) => {
  const started = performance.now();
  const status = await new Promise<string>((resolve) => {
    const sock = tls.connect(
      { port: s.server.admissionPort, host: '127.0.0.1', ca: s.certs.ca, servername: 'localhost' },
      () => {
        sock.write(
          'POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
        );
      },
    );
    const drip = setInterval(() => sock.write(' '), 200);
    let data = '';
    sock.on('data', (d) => (data += d.toString()));
    const done = () => {
      clearInterval(drip);
      resolve(data);
    };
    sock.on('close', done);
    sock.on('error', done);
    setTimeout(() => sock.destroy(), 10_000);
  });
  const waited = performance.now() - started;
  t.regex(status, /^HTTP\/1\.1 408 /);
  t.true(waited >= 1400 && waited < 3_500, `cut off after ${Math.round(waited)} ms (request timeout 1.5 s)`);
});

test('identity hints: a forged pod-name extra is recorded as a hint and never decides', async (t) => {
  const key = 'hints/Deployment/api';
  const first = admissionReview({
    key,
    name: 'we-holder',
    username: 'system:serviceaccount:kubernaut-system:ro',
    pod: 'ro-1',
  });
  t.true((await s.client.post('/validate', first)).json.response.allowed);
  // Same user, same claimed pod, another object: still busy (only the object identity retries).
  const samePod = admissionReview({
    key,
    name: 'we-other',
    username: 'system:serviceaccount:kubernaut-system:ro',
    pod: 'ro-1',
  });
  t.is((await s.client.post('/validate', samePod)).json.response.status.code, 409);
  // A forged extra claiming the holder's pod from another user: busy, and the message still names the real holder.
  const forged = admissionReview({ key, name: 'we-forged', username: 'mallory', pod: 'ro-1' });
  const res = (await s.client.post('/validate', forged)).json.response;
  t.is(res.status.code, 409);
  t.regex(
    res.status.message,
    /held by workflowexecution prod\/we-holder \(requested by system:serviceaccount:kubernaut-system:ro on pod ro-1/,
  );
});

test("hostile bodies: JSON nested past the API server's 10,000 levels is refused with 400 and writes nothing", async (t) => {
  const review = (key: string, depth: number) => {
    const deep = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    return `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"d","kind":{"group":"kubernaut.ai","version":"v1alpha1","kind":"WorkflowExecution"},"operation":"CREATE","name":"we-deep","namespace":"prod","object":{"metadata":{"name":"we-deep"},"spec":{"targetResource":"${key}","extra":${deep}}}}}`;
  };
  const leases = async (key: string) =>
    (await s.store.list(MANAGED_SELECTOR)).filter((l) => lockOf(l)?.key === key).length;
  // 20,000 levels: past the API server's depth, within maxReviewBytes (120 KB), so the depth check is what refuses it.
  const res = await s.client.post('/validate', review('deep/Deployment/x', 20_000));
  t.is(res.status, 400);
  t.is(res.json.error.code, 'LG_BAD_REQUEST');
  t.regex(res.json.error.message, /nests deeper than 10000 levels/);
  t.is(await leases('deep/Deployment/x'), 0, 'no Lease was written');
  t.is((await s.client.request('GET', '/healthz')).status, 200);
  // Nesting the API server can send (9,000 levels here) is an ordinary review.
  const ok = await s.client.post('/validate', review('deep/Deployment/y', 9_000));
  t.is(ok.status, 200);
  t.true(ok.json.response.allowed);
  t.is(await leases('deep/Deployment/y'), 1, 'its lock was taken');
});
