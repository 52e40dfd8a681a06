// The serving certificate follows its directory the way a mounted Secret changes: the
// kubelet writes a new timestamped directory and swaps the `..data` symlink.
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, symlink } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { cliCerts } from '../harness/certs.js';
import { startTestServer } from '../support/webhook-server.js';
import { sleep } from '../harness/wait.js';

function healthz(port: number, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(
      { host: '127.0.0.1', port, path: '/healthz', ca, agent: false, servername: 'localhost' },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
  });
}

const notAfterSeconds = async (dir: string) =>
  new Date(new X509Certificate(await readFile(join(dir, 'tls.crt'))).validTo).getTime() / 1000;

test('a swapped ..data symlink is served without a restart; a broken pair is ignored; the expiry gauge follows', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lg-secret-'));
  const first = await cliCerts(join(dir, '..2026_11_22_10_00_00.1'));
  await symlink('..2026_11_22_10_00_00.1', join(dir, '..data'));
  for (const f of ['tls.crt', 'tls.key', 'ca.crt']) await symlink(join('..data', f), join(dir, f));
  const s = await startTestServer({ certs: { dir, ca: first.ca } });
  t.teardown(() => s.close());
  const port = s.server.admissionPort;
  t.true(await healthz(port, first.ca));
  const expiry = async () => (await s.lg.metrics.certificateExpiry.get()).values[0]?.value;
  t.is(await expiry(), await notAfterSeconds(first.dir));

  // A broken update (a directory without a key) is logged and the old certificate stays.
  await mkdir(join(dir, '..broken'));
  await symlink('..broken', join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  await s.server.reloader.reload();
  t.true(await healthz(port, first.ca), 'still serving the last good certificate');
  t.true(s.logs.some((l) => l.includes('certificate reload skipped')));

  // The kubelet's way: new timestamped directory, then an atomic rename of ..data.
  const second = await cliCerts(join(dir, '..2026_11_22_11_00_00.2'), ['--days', '30']);
  await symlink('..2026_11_22_11_00_00.2', join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  let switched = false;
  for (let i = 0; i < 50 && !switched; i++) {
    switched = await healthz(port, second.ca);
    if (!switched) await sleep(100);
  }
  t.true(switched, 'the new certificate is served (the directory watch noticed the swap)');
  t.false(await healthz(port, first.ca), 'the old CA no longer verifies the server');
  t.true(s.logs.some((l) => l.includes('serving certificate reloaded')));
  t.is(await expiry(), await notAfterSeconds(second.dir), 'the gauge names the certificate now served');
  t.true((await expiry())! < (await notAfterSeconds(first.dir)) - 300 * 86_400);
});
