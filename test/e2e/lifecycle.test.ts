// The chart's whole lifecycle on a real node, at default values: the image in Pods behind
// the Service, storms through the API server, an upgrade and a killed Pod under load, the
// disruption budget, a replica cut off from the API server, and an uninstall that keeps
// kubernaut's CRDs and objects. One cluster, in order.
import { join } from 'node:path';
import test from 'ava';
import { apiError, workflowExecution } from '../harness/objects.js';
import { forEachConcurrently } from '../harness/pool.js';
import {
  ctr,
  customObjects,
  duplicateKeys,
  e2e,
  helm,
  kubectl,
  kubectlOk,
  nftInPod,
  pods,
  readyEndpoints,
  sleep,
  startLoad,
  waitUntil,
} from './support.js';

const NS = 'leaseguard-system';
const APP = 'app.kubernetes.io/name=leaseguard';
const KUBERNAUT = 'kubernaut-system';
const RELEASE = 'leaseguard';

const CLIENT_CA_SECRET = 'leaseguard-client-ca';

/**
 * As docs/install.md installs it: the CA of the client certificate the node's API server
 * presents (from `leaseguard certs`) as a Secret in the release namespace, named in
 * clientCA.secretName. What only the node lacks besides: the image's pull policy (it is
 * imported, never pulled). Every other value is the chart's default.
 */
async function install(ns = NS) {
  if ((await kubectl(['get', 'namespace', ns])).code !== 0) await kubectlOk(['create', 'namespace', ns]);
  await kubectlOk([
    '-n',
    ns,
    'create',
    'secret',
    'generic',
    CLIENT_CA_SECRET,
    `--from-file=ca.crt=${join(e2e().clientCerts, 'ca.crt')}`,
    '--dry-run=client',
    '-o',
    'yaml',
  ]).then((secret) => kubectlOk(['apply', '-f', '-'], secret));
  const r = await helm([
    'install',
    RELEASE,
    e2e().chart,
    '-n',
    ns,
    '--create-namespace',
    '--set',
    'image.pullPolicy=Never',
    '--set',
    `clientCA.secretName=${CLIENT_CA_SECRET}`,
    '--wait',
    '--timeout',
    '5m',
  ]);
  // certificates.source self: creates fail until a replica has issued the serving
  // certificate and written its CA into the webhooks (NOTES.txt says so); wait for that.
  // Only leaseguard's own refusal counts: a TLS failure names the webhook too.
  if (r.code === 0)
    await waitUntil('leaseguard answering through the API server', 120_000, async () =>
      LEASEGUARD_DENIED.test((await dryRunKeyless()).message),
    );
  return r;
}

/** What the API server says when leaseguard itself refused a request. */
const LEASEGUARD_DENIED = /^admission webhook "validate\.leaseguard\.kubernaut\.ai" denied the request: /;

/**
 * A server-side dry run with an empty key, which only leaseguard refuses (the CRD requires
 * the field, not a value): the API server's answer (kubectl would print only the causes).
 */
async function dryRunKeyless(): Promise<{ code: number; message: string }> {
  try {
    await customObjects().createNamespacedCustomObject({
      group: 'kubernaut.ai',
      version: 'v1alpha1',
      namespace: KUBERNAUT,
      plural: 'workflowexecutions',
      body: workflowExecution(KUBERNAUT, 'no-key', ''),
      dryRun: 'All',
    });
    return { code: 201, message: '' };
  } catch (err) {
    const e = apiError(err);
    return { code: e.code, message: e.message ?? String(err) };
  }
}

async function allReady(ns = NS, count = 3): Promise<void> {
  await waitUntil(`${count} leaseguard Pods Ready in ${ns}`, 180_000, async () => {
    const p = await pods(ns, APP);
    return p.length === count && p.every((x) => x.ready) && (await readyEndpoints(ns, 'leaseguard')).length === count;
  });
}

const we = (name: string, target: string) =>
  customObjects().createNamespacedCustomObject({
    group: 'kubernaut.ai',
    version: 'v1alpha1',
    namespace: KUBERNAUT,
    plural: 'workflowexecutions',
    body: workflowExecution(KUBERNAUT, name, target),
  });

test.before(async () => {
  // kubernaut's own installation: its CRDs and objects, there before leaseguard.
  await kubectlOk(['apply', '-f', e2e().crds]);
  await kubectlOk([
    'wait',
    '--for=condition=Established',
    'crd/workflowexecutions.kubernaut.ai',
    'crd/remediationrequests.kubernaut.ai',
  ]);
  await kubectlOk(['create', 'namespace', KUBERNAUT]);
  for (let i = 0; i < 3; i++) await we(`kubernaut-own-${i}`, `${KUBERNAUT}/Deployment/own-${i}`);
});

test.serial('installs at default values: 3 Pods Ready behind the Service, and helm test passes', async (t) => {
  const r = await install();
  t.is(r.code, 0, r.stderr);
  await allReady();
  t.is((await pods(NS, APP)).length, 3);
  const ht = await helm(['test', RELEASE, '-n', NS, '--timeout', '2m']);
  t.is(ht.code, 0, `${ht.stdout}\n${ht.stderr}`);
});

test.serial('the API server calls the Pods through the Service: a storm stores one object per key', async (t) => {
  // A create with an empty key can only be refused by leaseguard, naming the field.
  const dry = await dryRunKeyless();
  t.is(dry.code, 422, dry.message);
  t.regex(dry.message, LEASEGUARD_DENIED);
  t.regex(dry.message, /spec\.targetResource/);

  const keys = 20;
  const perKey = 8;
  const outcomes = new Map<string, number>();
  await forEachConcurrently(keys * perKey, 32, async (i) => {
    const key = i % keys;
    try {
      await we(`storm-${key}-${Math.floor(i / keys)}`, `${KUBERNAUT}/Deployment/storm-${key}`);
      outcomes.set('created', (outcomes.get('created') ?? 0) + 1);
    } catch (err) {
      const e = apiError(err);
      outcomes.set(String(e.code), (outcomes.get(String(e.code)) ?? 0) + 1);
    }
  });
  t.log(`storm: ${keys} keys x ${perKey} creates: ${JSON.stringify(Object.fromEntries(outcomes))}`);
  t.is(outcomes.get('created'), keys);
  t.is(outcomes.get('409'), keys * (perKey - 1));
  t.deepEqual(await duplicateKeys(KUBERNAUT), []);
});

test.serial('one leader among the Pods, and another takes over when it goes', async (t) => {
  const leader = async () => {
    const list = JSON.parse(
      await kubectlOk(['get', 'leases', '-n', NS, '-l', 'app.kubernetes.io/component=leader-election', '-o', 'json']),
    ) as { items: any[] };
    return String(list.items[0]?.spec?.holderIdentity ?? '');
  };
  const names = (await pods(NS, APP)).map((p) => p.name);
  const first = await leader();
  t.true(
    names.some((n) => first.includes(n)),
    `leader ${first} is one of ${names.join(', ')}`,
  );
  const firstPod = names.find((n) => first.includes(n))!;
  await kubectlOk(['delete', 'pod', '-n', NS, firstPod, '--wait=false']);
  const took = await waitUntil('a new leader', 60_000, async () => {
    const now = await leader();
    return now !== '' && !now.includes(firstPod);
  });
  t.log(`leadership moved from ${firstPod} in ${took} ms`);
  await allReady();
});

test.serial(
  'inside a Pod: uid 65532, read-only root, no capabilities, the memory limit and heap cap in force',
  async (t) => {
    const [pod] = await pods(NS, APP);
    const script = `
    const fs = require('node:fs'); const v8 = require('node:v8');
    const status = fs.readFileSync('/proc/1/status', 'utf8');
    let rootWritable = true; try { fs.writeFileSync('/probe', 'x'); } catch { rootWritable = false; }
    // Every package under node_modules, nested ones too, as name@version.
    const installed = (dir) => fs.readdirSync(dir).filter((d) => !d.startsWith('.')).flatMap((d) => {
      const p = dir + '/' + d;
      if (d.startsWith('@')) return installed(p);
      const pj = JSON.parse(fs.readFileSync(p + '/package.json', 'utf8'));
      return [pj.name + '@' + pj.version, ...(fs.existsSync(p + '/node_modules') ? installed(p + '/node_modules') : [])];
    });
    const limit = ['/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/memory.max'].map((f) => { try { return fs.readFileSync(f, 'utf8').trim(); } catch { return ''; } }).find(Boolean);
    console.log(JSON.stringify({
      uid: /^Uid:\\s+(\\d+)/m.exec(status)[1], capEff: /^CapEff:\\s+(\\w+)/m.exec(status)[1], capBnd: /^CapBnd:\\s+(\\w+)/m.exec(status)[1],
      noNewPrivs: /^NoNewPrivs:\\s+(\\d)/m.exec(status)[1], rootWritable, limit,
      cmd: fs.readFileSync('/proc/1/cmdline', 'utf8').split('\\0').join(' '),
      nodeOptions: fs.readFileSync('/proc/1/environ', 'utf8').split('\\0').find((e) => e.startsWith('NODE_OPTIONS=')),
      heapLimitMiB: Math.round(v8.getHeapStatistics().heap_size_limit / 1048576),
      sbom: JSON.parse(fs.readFileSync('/app/sbom.cdx.json', 'utf8')).components.map((c) => c.name + '@' + c.version),
      installed: installed('/app/node_modules'),
    }));`;
    const out = JSON.parse(await kubectlOk(['exec', '-n', NS, pod!.name, '--', '/nodejs/bin/node', '-e', script]));
    t.log({ ...out, sbom: `${out.sbom.length} components`, installed: `${out.installed.length} packages` });
    t.is(out.uid, '65532');
    t.is(out.capEff, '0000000000000000');
    t.is(out.capBnd, '0000000000000000');
    t.is(out.noNewPrivs, '1');
    t.false(out.rootWritable);
    t.is(out.limit, String(384 * 1024 * 1024));
    t.regex(out.cmd, /dist\/src\/cli\.js serve/);
    t.regex(out.nodeOptions, /--max-old-space-size=256/);
    // The exec'd node has the Pod's NODE_OPTIONS, so its heap limit is the serving process's.
    t.true(out.heapLimitMiB <= 300, `heap limit ${out.heapLimitMiB} MiB`);
    // The image's SBOM lists exactly what it runs, and nothing it was built with.
    t.deepEqual([...new Set(out.sbom)].sort(), [...new Set(out.installed)].sort());
    t.true(out.sbom.some((c: string) => c.startsWith('koa@')));
    t.false(out.sbom.some((c: string) => /^(ava|typescript)@/.test(c)));
  },
);

test.serial(
  'helm upgrade: a live setting keeps the Pods; a start-only one replaces every Pod under concurrent load, no failed create, no duplicate',
  async (t) => {
    const before = (await pods(NS, APP)).map((p) => p.name);
    // A change a replica applies live (the log level) keeps the Pods: the chart's checksum
    // leaves it out, and the replicas reload the ConfigMap.
    const live = await helm([
      'upgrade',
      RELEASE,
      e2e().chart,
      '-n',
      NS,
      '--reuse-values',
      '--set',
      'config.logLevel=debug',
      '--wait',
      '--timeout',
      '2m',
    ]);
    t.is(live.code, 0, live.stderr);
    t.deepEqual((await pods(NS, APP)).map((p) => p.name).sort(), [...before].sort(), 'a log level change rolls no Pod');
    const load = startLoad(t, KUBERNAUT, 8, 'upgrade');
    await sleep(2000);
    // A setting that applies only at start, so the Pods roll (a mode or log level change
    // reloads in place: the chart's checksum leaves those out).
    const r = await helm([
      'upgrade',
      RELEASE,
      e2e().chart,
      '-n',
      NS,
      '--reuse-values',
      '--set',
      'config.sweepIntervalSeconds=30',
      '--wait',
      '--timeout',
      '5m',
    ]);
    t.is(r.code, 0, r.stderr);
    await waitUntil('every Pod replaced', 180_000, async () => {
      const now = await pods(NS, APP);
      return now.length === 3 && now.every((p) => p.ready && !before.includes(p.name));
    });
    await sleep(3000);
    const stats = await load.stop();
    t.log(`upgrade: ${stats.created} creates admitted during the rollout, ${stats.failures.length} failed`);
    t.true(stats.created > 100, `only ${stats.created} creates ran`);
    t.deepEqual(stats.failures, []);
    t.deepEqual(await duplicateKeys(KUBERNAUT), []);
  },
);

test.serial('the disruption budget lets one Pod be evicted at a time', async (t) => {
  await allReady();
  const [a, b] = await pods(NS, APP);
  const evict = (name: string) =>
    kubectl(
      ['create', '--raw', `/api/v1/namespaces/${NS}/pods/${name}/eviction`, '-f', '-'],
      JSON.stringify({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: NS } }),
    );
  const first = await evict(a!.name);
  t.is(first.code, 0, first.stderr);
  const second = await evict(b!.name);
  t.not(second.code, 0);
  t.regex(second.stderr, /disruption budget|TooManyRequests|429/i);
  await allReady();
});

test.serial('a Pod killed under load costs no duplicate and a bounded number of failed creates', async (t) => {
  await allReady();
  const [victim] = await pods(NS, APP);
  const load = startLoad(t, KUBERNAUT, 8, 'killed');
  await sleep(2000);
  const k = await ctr(['tasks', 'kill', '-s', 'SIGKILL', victim!.containerId]);
  t.is(k.code, 0, k.stderr);
  await sleep(1000);
  await allReady();
  await sleep(2000);
  const stats = await load.stop();
  t.log(
    `killed ${victim!.name}: ${stats.created} admitted, ${stats.failures.length} failed: ${stats.failures.slice(0, 5).join(' | ')}`,
  );
  t.true(stats.created > 100);
  // In flight at the kill, or sent before the endpoint left: bounded, never a duplicate.
  t.true(stats.failures.length <= 40, `${stats.failures.length} failed`);
  t.deepEqual(await duplicateKeys(KUBERNAUT), []);
});

test.serial(
  'a replica cut off from the API server leaves the endpoints, costs no refused create once out, and returns',
  async (t) => {
    await allReady();
    const [cut] = await pods(NS, APP);
    // Inside the Pod's network namespace: nothing to the API server (its ClusterIP and the
    // node address) goes out; connections stay open, nothing flows.
    await nftInPod(
      cut!.containerId,
      'table inet lg_cut {\n  chain out {\n    type filter hook output priority 0; policy accept;\n    ip daddr { 10.96.0.1, 10.244.0.1 } tcp dport { 443, 6443 } drop\n  }\n}\n',
    );
    let restored = false;
    t.teardown(async () => {
      if (!restored) await nftInPod(cut!.containerId, 'delete table inet lg_cut').catch(() => undefined);
    });
    const out = await waitUntil(
      'the cut-off replica leaves the endpoints',
      60_000,
      async () => !(await readyEndpoints(NS, 'leaseguard')).includes(cut!.ip),
    );
    t.log(`cut off: left the endpoints in ${out} ms`);
    t.true(out < 15_000, `${out} ms`);
    const load = startLoad(t, KUBERNAUT, 8, 'cutoff');
    await sleep(20_000);
    const stats = await load.stop();
    t.log(`while out: ${stats.created} admitted, ${stats.failures.length} failed`);
    t.true(stats.created > 100);
    t.deepEqual(stats.failures, []);
    await nftInPod(cut!.containerId, 'delete table inet lg_cut');
    restored = true;
    const back = await waitUntil('the replica returns', 60_000, async () =>
      (await readyEndpoints(NS, 'leaseguard')).includes(cut!.ip),
    );
    t.log(`reconnected: back in the endpoints in ${back} ms`);
    t.deepEqual(await duplicateKeys(KUBERNAUT), []);
  },
);

test.serial("helm uninstall leaves kubernaut's CRDs and objects", async (t) => {
  const count = async () =>
    (
      (await customObjects().listNamespacedCustomObject({
        group: 'kubernaut.ai',
        version: 'v1alpha1',
        namespace: KUBERNAUT,
        plural: 'workflowexecutions',
      })) as { items: unknown[] }
    ).items.length;
  const before = await count();
  t.true(before > 0);
  const r = await helm(['uninstall', RELEASE, '-n', NS, '--wait', '--cascade', 'foreground', '--timeout', '3m']);
  t.is(r.code, 0, r.stderr);
  for (const crd of ['workflowexecutions.kubernaut.ai', 'remediationrequests.kubernaut.ai']) {
    t.is((await kubectl(['get', 'crd', crd])).code, 0, `${crd} is gone`);
  }
  t.is(await count(), before);
  // No webhook is left refusing creates.
  await we('after-uninstall', `${KUBERNAUT}/Deployment/after-uninstall`);
  // The next test installs again. `--cascade foreground` made `--wait` wait for the Pods
  // too, as docs/install.md tells an operator to: each keeps answering for
  // shutdownDelaySeconds after its SIGTERM, the API server's kept-alive connection can still
  // reach one after a reinstall, and its ServiceAccount is gone (its Lease calls are
  // Unauthorized, so it refuses the create).
  t.is((await kubectl(['get', 'pods', '-n', NS, '-l', APP, '-o', 'name'])).stdout.trim(), '');
});

test.serial(
  "deleting leaseguard's namespace completes while Leases remain and the Lease policy is installed",
  async (t) => {
    const r = await install();
    t.is(r.code, 0, r.stderr);
    await allReady();
    for (let i = 0; i < 3; i++) await we(`ns-delete-${i}`, `${KUBERNAUT}/Deployment/ns-delete-${i}`);
    const leases = JSON.parse(
      await kubectlOk(['get', 'leases', '-n', NS, '-l', 'app.kubernetes.io/managed-by=leaseguard', '-o', 'json']),
    ) as { items: unknown[] };
    t.true(leases.items.length >= 3, `${leases.items.length} managed Leases`);
    t.is((await kubectl(['get', 'validatingadmissionpolicies', '-o', 'name'])).stdout.includes('leaseguard'), true);
    const del = await kubectl(['delete', 'namespace', NS, '--timeout=180s']);
    t.is(del.code, 0, del.stderr);
    t.not((await kubectl(['get', 'namespace', NS])).code, 0);
    // The release's record went with its namespace: remove its cluster-scoped objects by label.
    await kubectl([
      'delete',
      'validatingwebhookconfigurations,mutatingwebhookconfigurations,validatingadmissionpolicies,validatingadmissionpolicybindings,clusterroles,clusterrolebindings,flowschemas,prioritylevelconfigurations',
      '-l',
      `app.kubernetes.io/instance=${RELEASE}`,
    ]);
  },
);

test.after.always(async () => {
  await helm(['uninstall', RELEASE, '-n', NS, '--wait']).catch(() => undefined);
});
