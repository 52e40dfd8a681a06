// TLS settings, request limits and untrusted identity hints, against the real HTTPS server.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { admissionReview } from '../support/reviews.js';
import { startTestServer, type TestServer } from '../support/webhook-server.js';

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
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-brief', ...flags], { stdio: ['ignore', 'pipe', 'pipe'] });
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
  const srv = https.createServer({ cert, key, minVersion: 'TLSv1', ciphers: 'ALL:@SECLEVEL=0' }, (_q, r) => r.end('ok'));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as AddressInfo).port, close: () => srv.close() };
}

const weakClients: Array<[string, string[]]> = [
  ['TLS 1.0', ['-tls1', '-cipher', 'ALL:@SECLEVEL=0']],
  ['TLS 1.1', ['-tls1_1', '-cipher', 'ALL:@SECLEVEL=0']],
  ['TLS 1.2 with a CBC cipher without forward secrecy', ['-tls1_2', '-cipher', 'AES128-SHA:@SECLEVEL=0']],
  ['TLS 1.2 with 3DES', ['-tls1_2', '-cipher', 'DES-CBC3-SHA:@SECLEVEL=0']],
];
for (const [name, flags] of weakClients) {
  test.serial(`TLS: a client offering only ${name} is refused`, async (t) => {
    const control = await permissiveServer();
    try {
      const against = await handshake(control.port, flags);
      if (!against.ok) return t.log(`this OpenSSL cannot offer ${name} at all; the refusal below is still checked`), t.false((await handshake(s.server.admissionPort, flags)).ok);
      t.true(against.ok, 'the weak client connects to a permissive server');
      const r = await handshake(s.server.admissionPort, flags);
      t.false(r.ok, r.out);
    } finally {
      control.close();
    }
  });
}

test.serial('TLS: 1.2 with ECDHE-GCM and 1.3 are accepted', async (t) => {
  t.true((await handshake(s.server.admissionPort, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256'])).ok);
  t.true((await handshake(s.server.admissionPort, ['-tls1_3'])).ok);
});

test('no plaintext: an HTTP request to the admission port gets no HTTP answer', async (t) => {
  const reply = await new Promise<string>((resolve) => {
    const sock = net.connect(s.server.admissionPort, '127.0.0.1', () => sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
    let data = '';
    sock.on('data', (d) => (data += d.toString('latin1')));
    sock.on('close', () => resolve(data));
    sock.on('error', () => resolve(data));
    setTimeout(() => sock.destroy(), 3000);
  });
  t.false(reply.startsWith('HTTP/'), 'never answered in plaintext');
});

test('limits: a request with 20 KiB of headers is refused with 431', async (t) => {
  const res = await s.client.request('POST', '/validate', '{}', { 'content-type': 'application/json', 'x-padding': 'a'.repeat(20 * 1024) });
  t.is(res.status, 431);
  t.is((await s.client.request('GET', '/healthz')).status, 200);
});

test('limits: a client that never finishes its headers is cut off', async (t) => {
  const started = performance.now();
  const closed = await new Promise<string>((resolve) => {
    const sock = tls.connect({ port: s.server.admissionPort, host: '127.0.0.1', ca: s.certs.ca, servername: 'localhost' }, () => sock.write('POST /validate HTTP/1.1\r\nHost: x\r\n'));
    let data = '';
    sock.on('data', (d) => (data += d.toString()));
    sock.on('close', () => resolve(data));
    sock.on('error', () => resolve(data));
    setTimeout(() => sock.destroy(), 10_000);
  });
  const waited = performance.now() - started;
  t.true(waited < 9_000, `closed after ${Math.round(waited)} ms`);
  t.true(closed === '' || closed.startsWith('HTTP/1.1 408'), closed.slice(0, 40));
});

test('limits: a client that trickles its body is cut off with 408', async (t) => {
  const status = await new Promise<string>((resolve) => {
    const sock = tls.connect({ port: s.server.admissionPort, host: '127.0.0.1', ca: s.certs.ca, servername: 'localhost' }, () => {
      sock.write('POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
    });
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
  t.regex(status, /^HTTP\/1\.1 408/);
});

test('identity hints: a forged pod-name extra is recorded as a hint and never decides', async (t) => {
  const key = 'hints/Deployment/api';
  const first = admissionReview({ key, name: 'we-holder', username: 'system:serviceaccount:kubernaut-system:ro', pod: 'ro-1' });
  t.true((await s.client.post('/validate', first)).json.response.allowed);
  // Same user, same claimed pod, another object: still busy (only the object identity retries).
  const samePod = admissionReview({ key, name: 'we-other', username: 'system:serviceaccount:kubernaut-system:ro', pod: 'ro-1' });
  t.is((await s.client.post('/validate', samePod)).json.response.status.code, 409);
  // A forged extra claiming the holder's pod from another user: busy, and the message still names the real holder.
  const forged = admissionReview({ key, name: 'we-forged', username: 'mallory', pod: 'ro-1' });
  const res = (await s.client.post('/validate', forged)).json.response;
  t.is(res.status.code, 409);
  t.regex(res.status.message, /held by workflowexecution prod\/we-holder \(requested by system:serviceaccount:kubernaut-system:ro on pod ro-1/);
});

test('hostile bodies: a 100,000-deep JSON body within the size limit gets an answer, not a crash', async (t) => {
  const deep = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
  const body = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"d","kind":{"group":"kubernaut.ai","version":"v1alpha1","kind":"WorkflowExecution"},"operation":"CREATE","name":"we-deep","namespace":"prod","object":{"metadata":{"name":"we-deep"},"spec":{"targetResource":"deep/Deployment/x","extra":${deep}}}}}`;
  const res = await s.client.post('/validate', body);
  t.true(res.status === 200 || res.status === 400, `status ${res.status}`);
  if (res.status === 200) t.is(res.json.response.uid, 'd');
  t.is((await s.client.request('GET', '/healthz')).status, 200);
});
