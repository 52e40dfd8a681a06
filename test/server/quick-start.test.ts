// The README's quick start, kept true: `leaseguard serve` with no cluster configured runs
// on the embedded store with development certificates, and the AdmissionReview the README
// sends with curl is admitted, then refused as busy under another name.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { HttpsClient } from '../harness/https-client.js';
import { CLI, ROOT } from '../harness/paths.js';

/** The JSON body of the README's quick-start curl (between -d ' and the closing '). */
async function readmeReview(): Promise<{ request: { name: string; object: { metadata: { name: string } } } }> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const quickStart = readme.slice(readme.indexOf('## Quick start'));
  const body = /curl -s --cacert certs\/ca\.crt https:\/\/127\.0\.0\.1:8443\/validate .*? -d '([^']+)'/s.exec(
    quickStart,
  )?.[1];
  if (!body) throw new Error("no curl -d '...' in the README's quick start");
  return JSON.parse(body);
}

test("the README's quick-start request: admitted on the embedded store, then 409 naming we-1 under another name", async (t) => {
  const review = await readmeReview();
  const dir = await mkdtemp(join(tmpdir(), 'lg-quick-start-'));
  // No kubeconfig anywhere: the embedded store, as on a bare machine.
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    LEASEGUARD_CERT_DIR: join(dir, 'certs'),
    LEASEGUARD_ADMISSION_PORT: '0',
    LEASEGUARD_METRICS_PORT: '0',
  };
  const proc = spawn(process.execPath, [CLI, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(async () => {
    proc.kill('SIGTERM');
    if (proc.exitCode === null) await new Promise((r) => proc.once('exit', r));
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.includes('"leaseguard is serving"'));
      if (line) resolve((JSON.parse(line) as { admissionPort: number }).admissionPort);
    });
    proc.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
  });
  const client = new HttpsClient(`https://127.0.0.1:${port}`, await readFile(join(dir, 'certs', 'ca.crt'), 'utf8'));
  t.teardown(() => client.agent.destroy());
  const post = (body: unknown) =>
    client.request('POST', '/validate', JSON.stringify(body), { 'content-type': 'application/json' });
  const first = (await post(review)).json as { response: { allowed: boolean } };
  t.true(first.response.allowed, 'the README says it is admitted');
  const other = structuredClone(review);
  other.request.name = 'we-2';
  other.request.object.metadata.name = 'we-2';
  const second = (await post(other)).json as {
    response: { allowed: boolean; status: { code: number; message: string } };
  };
  t.false(second.response.allowed);
  t.is(second.response.status.code, 409);
  t.regex(second.response.status.message, /we-1/);
});
