// `kubectl leaseguard`, packaged by scripts/package-plugin.mjs and installed by the real
// krew (built from its module by scripts/ensure-krew.sh) from the manifest and archive,
// with a local index standing in for krew-index, then run through the real kubectl
// against the test control plane: locks, why for a refused create, a holder, a stale
// lock, a pending one and a free key, release, and --context.
// No replica leads (the leader Lease is held by someone else), so locks stay as the test
// leaves them; the rules and pending timeout come from leaseguard's ConfigMap.
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { loadYaml } from '@kubernetes/client-node';
import { leaseName } from '../../src/core/lease-name.js';
import { encodeLease } from '../../src/core/lock-record.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import type { Identity } from '../harness/control-plane.js';
import { controlPlane, coordination, customObjects, kubectl } from '../harness/integration-env.js';
import { workflowExecution } from '../harness/objects.js';
import { ROOT } from '../harness/paths.js';
import {
  FAST,
  FAST_RELEASE_ENV,
  ReplicaSet,
  holdLeadership,
  leaseNamespace,
  scopedNamespace,
} from '../harness/replicas.js';

const run = promisify(execFile);
/** The kubectl the test control plane provides (set once it starts), else the one on PATH. */
const kubectlBin = () => process.env.LEASEGUARD_KUBECTL ?? 'kubectl';
const SCOPE = 'plugin';
const NS = 'plugin-prod';
const LEASE_NS = `lg-${SCOPE}`;
const rule = DEFAULT_RULES[0]!;
const PENDING_SECONDS = FAST.pendingSeconds;

let replicas: ReplicaSet;
let dir: string;
/** The environment krew and the installed plugin run in: its bin first on PATH. */
let krewEnv: Record<string, string>;
let manifest: Record<string, any>;
let archive: string;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lg-plugin-'));
  const packaged = JSON.parse(
    (await run(process.execPath, [join(ROOT, 'scripts/package-plugin.mjs'), '--out', join(dir, 'out')], { cwd: ROOT }))
      .stdout,
  ) as { archive: string; manifest: string };
  archive = packaged.archive;
  manifest = loadYaml<typeof manifest>(await readFile(packaged.manifest, 'utf8'));
  // krew wants its default index cloned (`krew update`) before it lists plugins: a local
  // git repository holding the manifest stands in for krew-index.
  const krew = (await run('bash', [join(ROOT, 'scripts/ensure-krew.sh')], { cwd: ROOT })).stdout.trim();
  const tools = join(dir, 'tools');
  const index = join(dir, 'index');
  await mkdir(tools, { recursive: true });
  await mkdir(join(index, 'plugins'), { recursive: true });
  await symlink(krew, join(tools, 'kubectl-krew'));
  await writeFile(join(index, 'plugins/leaseguard.yaml'), await readFile(packaged.manifest));
  const git = (args: string[]) =>
    run('git', ['-c', 'user.name=leaseguard', '-c', 'user.email=leaseguard@example.org', ...args], { cwd: index });
  await git(['init', '-q']);
  await git(['add', '.']);
  await git(['commit', '-qm', 'index']);
  krewEnv = {
    PATH: `${join(dir, 'krew/bin')}:${tools}:${process.env.PATH}`,
    HOME: dir,
    KREW_ROOT: join(dir, 'krew'),
    KREW_DEFAULT_INDEX_URI: `file://${index}`,
  };
  await krewKubectl(['krew', 'update']);
  const installed = await krewKubectl([
    'krew',
    'install',
    `--manifest=${packaged.manifest}`,
    `--archive=${archive}`,
  ]).catch((e: { stdout: string; stderr: string }) => e);
  if (!/Installed plugin: leaseguard/.test(installed.stdout + installed.stderr))
    throw new Error(`krew did not install the packaged plugin:\n${installed.stdout}${installed.stderr}`);

  await leaseNamespace(LEASE_NS);
  await holdLeadership(LEASE_NS);
  const config = `store: kubernetes\napiServerRequestTimeoutSeconds: ${PENDING_SECONDS - 2}\npendingTimeoutSeconds: ${PENDING_SECONDS}\nguardedNamespaces: [${NS}]\n`;
  const cm = await kubectl([
    '-n',
    LEASE_NS,
    'create',
    'configmap',
    'leaseguard-config',
    `--from-literal=config.yaml=${config}`,
  ]);
  if (cm.code !== 0) throw new Error(cm.stderr);
  replicas = await ReplicaSet.start({
    scope: SCOPE,
    count: 1,
    timeoutSeconds: FAST.timeoutSeconds,
    env: FAST_RELEASE_ENV,
  });
  await scopedNamespace(SCOPE, NS);
});
test.after.always(async () => {
  await replicas?.stop();
});

/** kubectl in krew's environment (krew update, install, list; kubectl plugin list). */
const krewKubectl = (args: string[]) => run(kubectlBin(), args, { env: krewEnv });

/** `kubectl leaseguard ARGS` as a person runs it: kubectl finds the plugin on PATH. */
function plugin(
  args: string[],
  identity: Identity = 'admin',
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(kubectlBin(), ['leaseguard', ...args], {
      env: { ...krewEnv, KUBECONFIG: controlPlane().kubeconfigs[identity] },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function manifestFile(name: string, target: string): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, JSON.stringify(workflowExecution(NS, name, target)));
  return file;
}
const create = (file: string) => kubectl(['create', '-f', file], { identity: 'controller' });
const leaseRef = (target: string) => `${LEASE_NS}/${leaseName(rule, target)}`;
const L = ['--lease-namespace', LEASE_NS];

test('the krew manifest names the archive by its sha256 and the executable kubectl finds', async (t) => {
  t.is(manifest.apiVersion, 'krew.googlecontainertools.github.com/v1alpha2');
  t.is(manifest.kind, 'Plugin');
  t.is(manifest.metadata.name, 'leaseguard');
  t.regex(manifest.spec.version, /^v\d+\.\d+\.\d+$/);
  const { createHash } = await import('node:crypto');
  const sha = createHash('sha256')
    .update(await readFile(archive))
    .digest('hex');
  for (const p of manifest.spec.platforms) {
    t.is(p.sha256, sha);
    t.is(p.bin, 'kubectl-leaseguard');
    t.truthy(p.selector.matchLabels.os);
  }
  const krewList = await krewKubectl(['krew', 'list']);
  t.regex(krewList.stdout, /^detached\/leaseguard$/m, 'krew tracks it as installed from a manifest, not an index');
  const listed = await krewKubectl(['plugin', 'list']).catch((e: { stdout: string }) => e);
  t.regex(listed.stdout, new RegExp(`${join(dir, 'krew/bin/kubectl-leaseguard')}$`, 'm'));
});

test.serial(
  'locks, and why for a refused create, for the holder, and for an object that was never stored',
  async (t) => {
    const target = `${NS}/Deployment/api`;
    t.is((await create(await manifestFile('we-1', target))).code, 0);
    const locks = await plugin(['locks', ...L]);
    t.is(locks.code, 0, locks.stderr);
    t.regex(locks.stdout, /^KEY\s+KIND\s+HOLDER\s+REQUESTER\s+STATE\s+AGE\s+LEASE$/m);
    t.regex(
      locks.stdout,
      new RegExp(
        `^${target}\\s+WorkflowExecution\\s+${NS}/we-1\\s+system:serviceaccount:kubernaut-system:remediationorchestrator\\s+pending`,
        'm',
      ),
    );

    const second = await manifestFile('we-2', target);
    const refused = await create(second);
    t.not(refused.code, 0);
    t.regex(refused.stderr, /is busy: held by workflowexecution plugin-prod\/we-1/);
    const why = await plugin(['why', '-f', second, ...L]);
    t.is(why.code, 0, why.stderr);
    t.is(why.stderr, '', 'the rules came from the ConfigMap');
    t.regex(
      why.stdout,
      new RegExp(
        `^workflowexecution ${NS}/we-2 is blocked: Lease ${leaseRef(target)} holds target "${target}" for workflowexecution ${NS}/we-1 \\(requested by system:serviceaccount:kubernaut-system:remediationorchestrator\\), since \\S+ \\(\\d+s ago by this machine's clock\\); holder phase \\(none yet\\)\\.$`,
        'm',
      ),
    );
    t.regex(
      why.stdout,
      new RegExp(
        `^The lock frees when ${NS}/we-1 reaches status\\.phase Completed or Failed, or is deleted\\. It is taken over once held longer than maxHoldSeconds \\(7200s\\)\\. Creates meanwhile get 409 Conflict\\.$`,
        'm',
      ),
    );

    const holder = await plugin(['why', 'workflowexecution/we-1', '-n', NS, ...L]);
    t.is(holder.code, 0, holder.stderr);
    t.regex(
      holder.stdout,
      new RegExp(`^workflowexecution ${NS}/we-1 holds the lock on target "${target}" itself`, 'm'),
    );

    const never = await plugin(['why', 'workflowexecutions/we-2', '-n', NS, ...L]);
    t.is(never.code, 1);
    t.regex(
      never.stderr,
      /workflowexecution plugin-prod\/we-2 is not stored\. A refused create never is: pass the manifest it was created from with -f/,
    );

    // Finished: why says the next create takes the lock over, and it does.
    await customObjects('controller').patchNamespacedCustomObjectStatus({
      group: 'kubernaut.ai',
      version: 'v1alpha1',
      namespace: NS,
      plural: 'workflowexecutions',
      name: 'we-1',
      body: [{ op: 'add', path: '/status', value: { phase: 'Completed' } }],
    });
    const stale = JSON.parse((await plugin(['why', '-f', second, '-o', 'json', ...L])).stdout) as Record<
      string,
      unknown
    >;
    t.like(stale, {
      verdict: 'stale',
      takeover: 'holder-terminal',
      key: target,
      lease: leaseRef(target),
      holder: `${NS}/we-1`,
      rulesFrom: `ConfigMap ${LEASE_NS}/leaseguard-config`,
    });
    t.is((await create(second)).code, 0, 'the take-over why promised');
  },
);

test.serial(
  "why for a pending lock tells when it is reclaimed (the ConfigMap's pending timeout); release frees a key, and why then says it is free",
  async (t) => {
    const target = `${NS}/Deployment/ghost`;
    const name = leaseName(rule, target);
    const now = new Date();
    // A lock whose create was admitted and never stored (refused by a later step, say).
    const record = {
      key: target,
      object: { group: rule.group, kind: rule.kind, namespace: NS, name: 'we-ghost', uid: 'ghost-uid' },
      requester: { username: 'system:serviceaccount:kubernaut-system:gateway' },
      state: 'pending' as const,
      acquiredAt: now,
      renewedAt: now,
      transitions: 0,
    };
    await coordination('leaseguard').createNamespacedLease({
      namespace: LEASE_NS,
      body: encodeLease(record, { name, namespace: LEASE_NS, pendingTimeoutSeconds: PENDING_SECONDS }),
    });
    const file = await manifestFile('we-3', target);
    const pending = await plugin(['why', '-f', file, ...L]);
    t.is(pending.code, 0, pending.stderr);
    t.regex(
      pending.stdout,
      /That holder is not stored: its create may still be in flight, or a later admission step refused it/,
    );
    t.regex(pending.stdout, new RegExp(`reclaimed once pendingTimeoutSeconds \\(${PENDING_SECONDS}s\\) has passed`));

    const denied = await plugin(['release', target, '--force', '--yes', ...L], 'admin');
    t.is(denied.code, 1);
    t.regex(denied.stderr, /not permitted, nothing was released.*leaseguard:break-glass/);
    const released = await plugin(['release', target, '--force', '--yes', ...L], 'breakglass');
    t.is(released.code, 0, released.stderr);
    t.regex(released.stdout, /Released "plugin-prod\/Deployment\/ghost"/);
    const free = await plugin(['why', '-f', file, ...L]);
    t.regex(
      free.stdout,
      new RegExp(`^No lock is held for target "${target}" \\(no Lease ${leaseRef(target)}\\)\\.$`, 'm'),
    );
    t.regex(free.stdout, /A create of it would take the lock and be admitted\./);
  },
);

test('a kind leaseguard does not guard, and a missing argument, say what to do', async (t) => {
  const r = await plugin(['why', 'deployment/api', '-n', NS, ...L]);
  t.is(r.code, 2);
  t.regex(
    r.stderr,
    /"deployment" is not a kind leaseguard guards \(rules from ConfigMap lg-plugin\/leaseguard-config: WorkflowExecution \(workflowexecutions\.kubernaut\.ai\), RemediationRequest/,
  );
  const none = await plugin(['why', ...L]);
  t.is(none.code, 2);
  t.regex(none.stderr, /name one object as KIND\/NAME, or pass -f MANIFEST/);
  const unknown = await plugin(['locks', '-n', NS, ...L]);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /^kubectl leaseguard: Unknown option '-n'.*; see --help\n$/);
  t.notRegex(unknown.stderr, /\n\s+at /, 'no stack trace for a mistyped option');
});

test("--context picks a context of the kubeconfig, as kubectl's own flag would (kubectl passes it no flags)", async (t) => {
  // Current context: a server nobody listens on; the named one: the test API server.
  const kubeconfig = JSON.parse(await readFile(controlPlane().kubeconfigs.admin, 'utf8')) as Record<string, any>;
  kubeconfig.clusters.push({ name: 'nowhere', cluster: { server: 'https://127.0.0.1:1' } });
  kubeconfig.contexts.push({ name: 'elsewhere', context: { cluster: 'nowhere', user: 'admin' } });
  kubeconfig['current-context'] = 'elsewhere';
  const file = join(dir, 'two-contexts.json');
  await writeFile(file, JSON.stringify(kubeconfig), { mode: 0o600 });
  const K = ['--kubeconfig', file, ...L];

  t.not((await plugin(['locks', ...K])).code, 0, 'the current context reaches no server');
  const locks = await plugin(['locks', '--context', 'admin', ...K]);
  t.is(locks.code, 0, locks.stderr);
  t.regex(locks.stdout, /^KEY\s+KIND/m);
  const why = await plugin([
    'why',
    '-f',
    await manifestFile('we-ctx', `${NS}/Deployment/ctx`),
    '--context',
    'admin',
    ...K,
  ]);
  t.is(why.code, 0, why.stderr);
  t.regex(why.stdout, /^No lock is held for target/m);
  const unknown = await plugin(['locks', '--context', 'nope', ...K]);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /no context "nope" in the kubeconfig \(it has admin, elsewhere\)/);
});
