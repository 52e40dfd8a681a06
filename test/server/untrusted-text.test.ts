// Input never shapes what leaseguard exposes: metric label values come only from the
// configuration and fixed sets, and text from objects and requests is escaped wherever a
// person reads it (denial messages, the locks table and prompt, the command line's errors
// and its JSON output).
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { encodeLease } from '../../src/core/lock-record.js';
import { MemoryLeaseStore } from '../../src/store/memory-lease-store.js';
import { standInKubeConfig } from '../support/failing-apiserver.js';
import { CLI } from '../harness/paths.js';
import { table } from '../../src/cli/locks-command.js';
import { admissionReview } from '../support/reviews.js';
import { startTestServer } from '../support/webhook-server.js';

test('2,000 distinct unknown kinds (and 50 KB kind names) add no metric series', async (t) => {
  const s = await startTestServer();
  t.teardown(() => s.close());
  // leaseguard's own series (Node's process metrics come and go with the garbage collector).
  const own = (text: string) =>
    text.split('\n').filter((l) => l && !l.startsWith('#') && !/^leaseguard_(nodejs|process)_/.test(l));
  const series = async () => own(await s.lg.metrics.registry.metrics()).length;
  // Warm up: the series a guarded and an unguarded request create.
  await s.client.post('/validate', admissionReview({ kind: 'Other', group: 'example.io', key: 'x' }));
  await s.client.post('/mutate', admissionReview({ kind: 'Other', group: 'example.io', key: 'x' }));
  const before = await series();
  const bytesBefore = own(await s.lg.metrics.registry.metrics()).join('\n').length;
  for (let i = 0; i < 2000; i += 50) {
    await Promise.all(
      Array.from({ length: 50 }, (_, j) =>
        Promise.all([
          s.client.post('/validate', admissionReview({ kind: `Kind${i + j}`, group: `g${i + j}.example.io` })),
          s.client.post('/mutate', admissionReview({ kind: `Kind${i + j}`, group: `g${i + j}.example.io` })),
        ]),
      ),
    );
  }
  await s.client.post('/validate', admissionReview({ kind: 'K'.repeat(50_000), group: 'x.io' }));
  t.is(await series(), before, 'no new series');
  const text = own(await s.lg.metrics.registry.metrics()).join('\n');
  t.true(text.length < bytesBefore + 2000, `the scrape did not grow (${bytesBefore} → ${text.length} bytes)`);
  t.regex(
    text,
    /leaseguard_admission_requests_total\{webhook="validate",kind="other",operation="CREATE",decision="passed"\} 20\d\d/,
  );
  t.notRegex(text, /Kind1999|KKKK/);
});

const HOSTILE = 'prod/Deployment/api\u001b[2J\u001b[31mFAKE\r\nLINE\u0007\u009b\u202e';

test('control characters in key, requester and pod come out escaped in a denial message', async (t) => {
  const s = await startTestServer({ store: new MemoryLeaseStore('leaseguard-system') });
  t.teardown(() => s.close());
  const first = await s.client.post(
    '/validate',
    admissionReview({ key: HOSTILE, name: 'we-1', username: 'eve\u001b]0;owned\u0007', pod: 'pod\r\nX-Injected: 1' }),
  );
  t.true(first.json.response.allowed);
  const second = await s.client.post('/validate', admissionReview({ key: HOSTILE, name: 'we-2' }));
  const message: string = second.json.response.status.message;
  t.is(second.json.response.status.code, 409);
  t.notRegex(message, /[\u0000-\u001f\u007f-\u009f\u202e]/, 'no raw control character');
  t.true(message.includes('\\u001b[2J'), message);
  t.true(message.includes('\\u009b') && message.includes('\\u202e'));
  t.true(message.includes('eve\\x1b]0;owned\\x07'), message);
  t.true(message.includes('pod\\x0d\\x0aX-Injected: 1'), message);
  for (const cause of second.json.response.status.details.causes as Array<{ message: string }>)
    t.notRegex(cause.message, /[\u0000-\u001f\u007f-\u009f]/);
});

test('the locks table escapes every cell; columns stay aligned', (t) => {
  const out = table([
    {
      key: HOSTILE,
      kind: 'WorkflowExecution',
      holder: 'prod/we-1',
      holderUid: 'u',
      requester: 'eve\u0007 (pod p\r\nFAKE)',
      state: 'bound',
      age: '1s',
      acquiredAt: '',
      lease: 'lg/l',
    },
  ]);
  t.notRegex(
    out,
    /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/,
    'no raw control character (newlines only between rows)',
  );
  t.is(out.split('\n').length, 2, 'one header, one row: a CR LF in a cell makes no line');
  t.true(out.includes('\\x1b[2J'));
});

/** Raw controls a terminal acts on (C0 but newline, DEL, C1, bidi and invisible ones). */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/;
const EVIL_KIND = 'Workflow\u001b]0;owned\u0007Execution\u009b31m\u202eKIND';

/**
 * A stand-in API server for the command line: two Leases (one key, two kinds whose names
 * carry controls), no ConfigMap, no other Lease. Returns the kubeconfig file for it.
 */
async function standInForCli(t: import('ava').ExecutionContext): Promise<string> {
  const lease = (kind: string, name: string) =>
    encodeLease(
      {
        key: HOSTILE,
        object: { group: 'kubernaut.ai', kind, namespace: 'prod', name: `we-\u009b${name}`, uid: `u-${name}` },
        requester: { username: 'eve\u202e' },
        state: 'pending',
        acquiredAt: new Date(),
        renewedAt: new Date(),
        transitions: 0,
      },
      { name: `lease-${name}`, namespace: 'leaseguard-system', pendingTimeoutSeconds: 90 },
    );
  const items = [lease(EVIL_KIND, 'a'), lease(`${EVIL_KIND}2`, 'b')].map((l, i) => ({
    ...l,
    metadata: { ...l.metadata, uid: `lu-${i}`, resourceVersion: String(10 + i) },
  }));
  const server = http.createServer((req, res) => {
    req.resume();
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    res.setHeader('content-type', 'application/json');
    if (req.method === 'GET' && path === '/apis/coordination.k8s.io/v1/namespaces/leaseguard-system/leases') {
      res.end(
        JSON.stringify({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'LeaseList',
          metadata: { resourceVersion: '20' },
          items,
        }),
      );
      return;
    }
    res.statusCode = 404;
    res.end(
      JSON.stringify({
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        code: 404,
        reason: 'NotFound',
        message: 'not found',
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const dir = await mkdtemp(join(tmpdir(), 'lg-untrusted-'));
  const file = join(dir, 'kubeconfig');
  await writeFile(file, standInKubeConfig(server).exportConfig());
  return file;
}

const cli = (args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });

test('locks -o json and locks release escape what Leases say: no raw control character reaches the terminal', async (t) => {
  const kubeconfig = await standInForCli(t);
  const json = await cli(['locks', '-o', 'json', '--kubeconfig', kubeconfig, '--namespace', 'leaseguard-system']);
  t.is(json.code, 0, json.stderr);
  t.notRegex(json.stdout, RAW_CONTROL, 'JSON escapes C0 itself; C1 and bidi controls are escaped too');
  const rows = JSON.parse(json.stdout) as Array<{ kind: string; key: string; requester: string }>;
  t.deepEqual(rows.map((r) => r.kind).sort(), [EVIL_KIND, `${EVIL_KIND}2`], 'and it parses back to the same text');
  t.is(rows[0]!.key, HOSTILE);

  const release = await cli([
    'locks',
    'release',
    HOSTILE,
    '--force',
    '--yes',
    '--kubeconfig',
    kubeconfig,
    '--namespace',
    'leaseguard-system',
  ]);
  t.is(release.code, 2);
  t.regex(release.stderr, /is held for several kinds/);
  t.notRegex(release.stderr, RAW_CONTROL, release.stderr);
  t.true(release.stderr.includes('\\x1b]0;owned\\x07Execution\\x9b31m\\u202eKIND'), release.stderr);
});

test('why -f escapes the kind and names a manifest supplies, in its errors and in -o json', async (t) => {
  const kubeconfig = await standInForCli(t);
  const dir = await mkdtemp(join(tmpdir(), 'lg-why-'));
  const unguarded = join(dir, 'unguarded.json');
  await writeFile(
    unguarded,
    JSON.stringify({
      apiVersion: 'kubernaut.ai/v1alpha1',
      kind: EVIL_KIND,
      metadata: { name: 'x', namespace: 'prod' },
    }),
  );
  const refused = await cli(['why', '-f', unguarded, '--kubeconfig', kubeconfig]);
  t.is(refused.code, 2);
  t.regex(refused.stderr, /is not guarded by leaseguard/);
  t.notRegex(refused.stderr, RAW_CONTROL, refused.stderr);

  const guarded = join(dir, 'guarded.json');
  await writeFile(
    guarded,
    JSON.stringify({
      ...admissionReview({ key: HOSTILE, name: 'we-\u202eevil\u0085' }).request.object,
      metadata: { name: 'we-\u202eevil\u0085', namespace: 'prod' },
    }),
  );
  const json = await cli(['why', '-f', guarded, '-o', 'json', '--kubeconfig', kubeconfig]);
  t.is(json.code, 0, json.stderr);
  t.notRegex(json.stdout, RAW_CONTROL, json.stdout);
  const answer = JSON.parse(json.stdout) as { object: string; key: string; verdict: string };
  t.is(answer.object, 'prod/we-\u202eevil\u0085', 'the same text, escaped');
  t.is(answer.key, HOSTILE);
});
