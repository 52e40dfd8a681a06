// Who may call /validate: on a real API server, only the API server's client certificate,
// unless running without it is spelled out (allowUnauthenticatedCallers), and then the
// choice shows in a gauge.
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createLeaseguard } from '../../src/app.js';
import { callerAuthenticationProblem, loadConfig } from '../../src/config.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import { unverifiableHolders } from '../../src/store/holder-reader.js';
import { MemoryLeaseStore } from '../../src/store/memory-lease-store.js';
import { metricValue } from '../harness/metrics.js';
import { CLI } from '../harness/paths.js';

const run = promisify(execFile);

const KUBE = { LEASEGUARD_STORE: 'kubernetes' };

/** `leaseguard serve` on the Kubernetes store, its API server never reached (it stops before). */
async function serve(env: Record<string, string>) {
  const dir = await mkdtemp(join(tmpdir(), 'lg-callers-'));
  const kubeconfig = join(dir, 'kubeconfig.json');
  const cluster = { server: 'https://127.0.0.1:1', 'insecure-skip-tls-verify': true };
  await writeFile(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster }],
      users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  const base = {
    PATH: process.env.PATH ?? '',
    ...KUBE,
    LEASEGUARD_KUBECONFIG: kubeconfig,
    LEASEGUARD_CERT_DIR: join(dir, 'none'),
    LEASEGUARD_ADMISSION_PORT: '0',
    LEASEGUARD_METRICS_PORT: '0',
    LEASEGUARD_HOST: '127.0.0.1',
  };
  return run(process.execPath, [CLI, 'serve'], { env: { ...base, ...env }, timeout: 20_000 }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
  );
}

test('on the Kubernetes store leaseguard refuses to serve without clientCaFile, saying what to do', async (t) => {
  const r = await serve({});
  t.is(r.code, 1);
  t.regex(r.stderr, /clientCaFile is not set, so anyone who reaches the admission port could take and probe locks/);
  t.regex(r.stderr, /leaseguard certs, then leaseguard apiserver-config/);
  t.regex(r.stderr, /allowUnauthenticatedCallers: true/);
  // With the opt-in it gets past that check (and stops at the next: no certificate to serve).
  const open = await serve({ LEASEGUARD_ALLOW_UNAUTHENTICATED_CALLERS: 'true' });
  t.is(open.code, 1);
  t.notRegex(open.stderr, /clientCaFile is not set/);
  t.regex(open.stderr, /tls\.crt/);
});

test('allowUnauthenticatedCallers is off by default; with clientCaFile it contradicts', (t) => {
  t.false(loadConfig({ env: {} }).allowUnauthenticatedCallers);
  t.true(
    loadConfig({ env: { ...KUBE, LEASEGUARD_ALLOW_UNAUTHENTICATED_CALLERS: 'true' } }).allowUnauthenticatedCallers,
  );
  t.is(
    loadConfig({ env: { ...KUBE, LEASEGUARD_CLIENT_CA_FILE: '/client-ca/ca.crt' } }).clientCaFile,
    '/client-ca/ca.crt',
  );
  t.throws(
    () =>
      loadConfig({
        env: { ...KUBE, LEASEGUARD_CLIENT_CA_FILE: '/ca.crt', LEASEGUARD_ALLOW_UNAUTHENTICATED_CALLERS: 'true' },
      }),
    { message: /contradict/ },
  );
});

test('store auto is judged once the store is open: the embedded store (loopback, local locks) needs no client CA, a real API server does', (t) => {
  const auto = loadConfig({ env: {} });
  t.is(callerAuthenticationProblem(auto, true), undefined);
  t.regex(callerAuthenticationProblem(auto, false) ?? '', /clientCaFile is not set/);
  t.is(callerAuthenticationProblem({ ...auto, allowUnauthenticatedCallers: true }, false), undefined);
});

test('leaseguard_callers_authenticated is 1 with a client CA and 0 without', async (t) => {
  const gauge = async (clientCaFile?: string) => {
    const registry = new Registry();
    createLeaseguard({
      config: {
        rules: [...DEFAULT_RULES],
        pendingTimeoutSeconds: 30,
        deadlineMs: 4000,
        failOpen: false,
        ...(clientCaFile ? { clientCaFile, clientSubjects: [] } : {}),
      },
      logger: pino({ level: 'silent' }),
      registry,
      store: new MemoryLeaseStore('leaseguard-system'),
      holders: unverifiableHolders,
    });
    return metricValue(await registry.metrics(), 'leaseguard_callers_authenticated');
  };
  t.is(await gauge('/client-ca/ca.crt'), 1);
  t.is(await gauge(), 0);
});
