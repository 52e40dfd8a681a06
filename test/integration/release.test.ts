// Watch-confirmed release, self-healing, leader election and the locks command, on the
// real control plane.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';
import { MANAGED_SELECTOR } from '../../src/core/lock-record.js';
import { LEADER_LEASE_NAME } from '../../src/release/release-work.js';
import { annotated, REFUSE_ANNOTATION, startPolicyWebhook } from '../support/policy-webhook.js';
import { controlPlane, coordination, customObjects, kubectl } from '../harness/integration-env.js';
import { metricValue } from '../harness/metrics.js';
import { apiError, fingerprint, remediationRequest, workflowExecution } from '../harness/objects.js';
import { CLI } from '../harness/paths.js';
import {
  FAST,
  FAST_RELEASE_ENV,
  ReplicaSet,
  SCOPE_LABEL,
  holdLeadership,
  scopedNamespace,
} from '../harness/replicas.js';
import { sleep, until } from '../harness/wait.js';
import { lockOf } from '../support/lock-of.js';

const run = promisify(execFile);
const SCOPE = 'release';
const NS = 'rel-prod';
const PENDING_S = FAST.pendingSeconds;
const LEADER_LEASE_S = FAST.leaderLeaseSeconds;
const GROUP = { group: 'kubernaut.ai', version: 'v1alpha1', namespace: NS };
let replicas: ReplicaSet;
const PLAIN_SCOPE = 'release-plain';
const PLAIN_NS = 'rel-plain';
let plain: ReplicaSet;

test.before(async () => {
  replicas = await ReplicaSet.start({
    scope: SCOPE,
    count: 3,
    timeoutSeconds: FAST.timeoutSeconds,
    env: FAST_RELEASE_ENV,
  });
  await scopedNamespace(SCOPE, NS);
  // The default settings' cost path: no stamping, so one webhook call per create.
  plain = await ReplicaSet.start({
    scope: PLAIN_SCOPE,
    count: 1,
    timeoutSeconds: FAST.timeoutSeconds,
    env: { ...FAST_RELEASE_ENV, LEASEGUARD_STAMP_ANNOTATIONS: 'false' },
  });
  await scopedNamespace(PLAIN_SCOPE, PLAIN_NS);
});
test.after.always(async () => {
  await replicas?.stop();
  await plain?.stop();
  // we-cli-2 follows a forced release while we-cli lives: a duplicate other files' leaders would count.
  await kubectl(['delete', 'workflowexecutions', '--all', '-n', NS, '--wait=false']);
});

// These tests stop and restart replicas; they run one at a time.
const serial = test.serial;

async function lease(key: string, set = replicas) {
  const list = await coordination('admin').listNamespacedLease({
    namespace: set.leaseNamespace,
    labelSelector: MANAGED_SELECTOR,
  });
  return list.items.find((l) => lockOf(l)?.key === key);
}

const createWe = (name: string, target: string, ns = NS) =>
  customObjects('controller').createNamespacedCustomObject({
    ...GROUP,
    namespace: ns,
    plural: 'workflowexecutions',
    body: workflowExecution(ns, name, target),
  });
const createRr = (name: string, fp: string) =>
  customObjects('controller').createNamespacedCustomObject({
    ...GROUP,
    plural: 'remediationrequests',
    body: remediationRequest(NS, name, fp),
  });
const setStatus = (plural: string, name: string, status: Record<string, string>, namespace = NS) =>
  customObjects('controller').patchNamespacedCustomObjectStatus({
    ...GROUP,
    namespace,
    plural,
    name,
    body: [{ op: 'add', path: '/status', value: status }],
  });

async function leaderIdentity(): Promise<string> {
  const l = await coordination('admin').readNamespacedLease({
    name: LEADER_LEASE_NAME,
    namespace: replicas.leaseNamespace,
  });
  return l.spec?.holderIdentity ?? '';
}

async function releasedLog(): Promise<Array<{ lease: string; reason: string; identity: string }>> {
  return (await replicas.logs())
    .split('\n')
    .filter((l) => l.includes('"lock released"'))
    .map((l) => JSON.parse(l));
}

serial('a WorkflowExecution moved to Completed releases its Lease; the next create is admitted', async (t) => {
  const delays: number[] = [];
  for (let i = 0; i < 10; i++) {
    const target = `${NS}/Deployment/complete-${i}`;
    await createWe(`we-c-${i}`, target);
    const started = performance.now();
    await setStatus('workflowexecutions', `we-c-${i}`, { phase: 'Completed' });
    await until('the Lease to be released', async () => !(await lease(target)), 10_000);
    delays.push(performance.now() - started);
    await createWe(`we-c-${i}-next`, target);
    t.is(lockOf(await lease(target))?.object.name, `we-c-${i}-next`);
  }
  delays.sort((a, b) => a - b);
  const median = (delays[4]! + delays[5]!) / 2;
  t.log(
    `release delay after Completed (10 objects): median ${median.toFixed(0)} ms, worst ${delays[9]!.toFixed(0)} ms`,
  );
  process.stderr.write(
    `[release] delay after Completed over 10 objects: median ${median.toFixed(0)} ms, worst ${delays[9]!.toFixed(0)} ms\n`,
  );
  // (Logs are flushed every second.)
  await until(
    'a completed release to be logged',
    async () => (await releasedLog()).some((r) => r.lease && r.reason === 'completed'),
    5000,
  );
});

/** One API verb's calls on Leases (those with `outcome`, when given), summed over the plain set's replicas. */
const leaseCalls = (verb: string, outcome?: string) =>
  plain.metricSum('leaseguard_apiserver_request_duration_seconds_count', {
    verb,
    resource: 'leases',
    ...(outcome ? { outcome } : {}),
  });

serial(
  'a new key costs its Lease create and its release one delete: no other Lease write, and the lock holds meanwhile',
  async (t) => {
    // Deletes that wrote: a sweep and a watch event may both try one release, and the later
    // attempt finds the Lease gone (404, nothing written). Creates and patches: every attempt.
    const count = async () => ({
      create: await leaseCalls('create'),
      patch: await leaseCalls('patch'),
      delete: await leaseCalls('delete', 'ok'),
    });
    const before = await count();
    const uids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const created = (await createWe(`we-p-${i}`, `${PLAIN_NS}/Deployment/patched-${i}`, PLAIN_NS)) as {
        metadata: { uid: string; annotations?: Record<string, string> };
      };
      uids.push(created.metadata.uid);
      t.is(
        created.metadata.annotations?.['leaseguard.kubernaut.ai/lock-key'],
        undefined,
        'not stamped: stampAnnotations is off',
      );
    }
    // One webhook call per create: with stampAnnotations off, no mutating webhook is registered.
    t.not((await kubectl(['get', 'mutatingwebhookconfiguration', plain.webhookName])).code, 0);
    // Long enough for the leader's watch to see every create and a sweep to run.
    await sleep((FAST.sweepSeconds + 1) * 1000);
    for (let i = 0; i < 5; i++) {
      const l = await lease(`${PLAIN_NS}/Deployment/patched-${i}`, plain);
      t.is(lockOf(l)?.object.uid, uids[i], 'the Lease recorded the stored UID at admission');
      const competitor = await createWe(`we-p-${i}-dup`, `${PLAIN_NS}/Deployment/patched-${i}`, PLAIN_NS).then(
        () => 201,
        (err) => apiError(err).code,
      );
      t.is(competitor, 409, 'held by its stored object');
    }
    const mid = await count();
    t.is(mid.create - before.create, 5, 'one Lease create per new key');
    t.is(mid.patch - before.patch, 0, 'no bind or other patch');
    t.is(mid.delete - before.delete, 0);
    for (let i = 0; i < 5; i++) await setStatus('workflowexecutions', `we-p-${i}`, { phase: 'Completed' }, PLAIN_NS);
    for (let i = 0; i < 5; i++)
      await until('released', async () => !(await lease(`${PLAIN_NS}/Deployment/patched-${i}`, plain)), 10_000);
    // The metric is recorded once the delete's answer is read, a moment after the Lease is gone.
    const after = await until(
      'every delete to be counted',
      async () => {
        const c = await count();
        return c.delete - mid.delete >= 5 && c;
      },
      5000,
    );
    t.is(after.delete - mid.delete, 5, 'one delete per release');
    t.is(after.patch - before.patch, 0);
    t.is(after.create - mid.create, 0);
  },
);

serial(
  "the held-Leases gauge counts a stored object's Lease as bound, from the watch, while the Lease says pending",
  async (t) => {
    const target = `${PLAIN_NS}/Deployment/gauge`;
    await createWe('we-gauge', target, PLAIN_NS);
    t.is(lockOf(await lease(target, plain))?.state, 'pending', 'nothing written after admission');
    const gauge = async (state: string) =>
      metricValue((await plain.metrics())[0] ?? '', 'leaseguard_leases_held', { kind: 'WorkflowExecution', state });
    await until(
      'the sweep to count it bound',
      async () => (await gauge('bound')) >= 1,
      (FAST.sweepSeconds * 2 + 3) * 1000,
    );
    t.is(lockOf(await lease(target, plain))?.state, 'pending');
    await customObjects('controller').deleteNamespacedCustomObject({
      ...GROUP,
      namespace: PLAIN_NS,
      plural: 'workflowexecutions',
      name: 'we-gauge',
    });
    await until('released', async () => !(await lease(target, plain)), 10_000);
  },
);

serial('deleting the holder releases its Lease', async (t) => {
  const target = `${NS}/Deployment/deleted`;
  await createWe('we-del', target);
  const name = (await lease(target))!.metadata!.name!;
  await customObjects('controller').deleteNamespacedCustomObject({
    ...GROUP,
    plural: 'workflowexecutions',
    name: 'we-del',
  });
  await until('released', async () => !(await lease(target)), 10_000);
  // (Logs are flushed every second.)
  const lines = await until(
    'the release to be logged',
    async () => {
      const mine = (await releasedLog()).filter((r) => r.lease === name);
      return mine.length > 0 && mine;
    },
    5000,
  );
  t.deepEqual(
    lines.map((r) => r.reason),
    ['deleted'],
  );
  await createWe('we-del-next', target);
  t.is(lockOf(await lease(target))?.object.name, 'we-del-next', 'the next create holds the key');
});

serial('a RemediationRequest in Blocked keeps its Lease; TimedOut, Skipped and Cancelled release it', async (t) => {
  for (const phase of ['TimedOut', 'Skipped', 'Cancelled']) {
    const fp = fingerprint(`release-${phase}`);
    const name = `rr-${phase.toLowerCase()}`;
    await createRr(name, fp);
    await setStatus('remediationrequests', name, { overallPhase: 'Blocked' });
    await sleep(2500); // more than a sweep interval
    t.truthy(await lease(fp), `Blocked keeps the lock (${phase} case)`);
    const err = await t.throwsAsync(createRr(`${name}-dup`, fp));
    t.is(apiError(err).code, 409);
    await setStatus('remediationrequests', name, { overallPhase: phase });
    await until(`release after ${phase}`, async () => !(await lease(fp)), 10_000);
  }
});

serial(
  'with every replica down while a holder completes: self-healing admits at once, and a sweep releases',
  async (t) => {
    const healed = `${NS}/Deployment/heal`;
    const swept = `${NS}/Deployment/swept`;
    await createWe('we-heal', healed);
    await createWe('we-swept', swept);
    // Keep the release work from running after the restart: only admission runs.
    for (let i = 0; i < replicas.replicas.length; i++) await replicas.kill(i);
    await holdLeadership(replicas.leaseNamespace);
    await setStatus('workflowexecutions', 'we-heal', { phase: 'Completed' });
    await setStatus('workflowexecutions', 'we-swept', { phase: 'Failed' });
    for (let i = 0; i < replicas.replicas.length; i++) await replicas.restart(i);
    await sleep(2500);
    t.truthy(await lease(swept), 'no release work has run');
    await createWe('we-heal-next', healed);
    const taken = await lease(healed);
    t.is(lockOf(taken)?.object.name, 'we-heal-next', 'taken over by self-healing');
    t.is(taken?.spec?.leaseTransitions, 1);
    // Let leadership go to the replicas: their sweep releases the other Lease.
    await coordination('leaseguard').deleteNamespacedLease({
      name: LEADER_LEASE_NAME,
      namespace: replicas.leaseNamespace,
    });
    await until('the sweep to release the finished holder', async () => !(await lease(swept)), 15_000);
  },
);

serial(
  'a create refused by a later admission step leaves a pending Lease that is reclaimed after the pending timeout',
  async (t) => {
    const denyNs = 'rel-denied';
    await scopedNamespace(SCOPE, denyNs);
    // A second validating webhook (a policy engine) that refuses what is annotated for it.
    const policy = await startPolicyWebhook({
      name: 'test-deny',
      namespaceLabels: { 'kubernetes.io/metadata.name': denyNs },
    });
    const refused = (name: string, target: string) =>
      customObjects('controller').createNamespacedCustomObject({
        ...GROUP,
        namespace: denyNs,
        plural: 'workflowexecutions',
        body: annotated(workflowExecution(denyNs, name, target), { [REFUSE_ANNOTATION]: 'yes' }),
      });
    t.teardown(() => policy.stop());
    const target = `${NS}/Deployment/refused`;
    let refusedAt = 0;
    await until(
      'the second webhook to refuse',
      async () => {
        const err = await refused('we-refused', target).then(
          () => undefined,
          (e) => e,
        );
        refusedAt = performance.now();
        return err && /refused by policy/.test(apiError(err).message ?? '');
      },
      15_000,
    );
    const pending = await lease(target);
    t.is(lockOf(pending)?.state, 'pending', 'leaseguard took the lock before the other webhook refused');
    const err = await t.throwsAsync(createWe('we-other', target));
    t.is(apiError(err).code, 409, 'blocked while pending');
    // Counted from when the Lease was written (an earlier attempt, before the second webhook
    // was in place, may have written it; later ones are retries of the same object): its
    // acquireTime, written by a replica on this machine's clock.
    const writtenAt = new Date(pending!.spec!.acquireTime as unknown as string).getTime();
    await until(
      'the pending Lease to be reclaimed',
      async () => !(await lease(target)) || lockOf(await lease(target))?.object.name !== 'we-refused',
      (PENDING_S + FAST.sweepSeconds + 6) * 1000,
    );
    const reclaimedAfter = Date.now() - writtenAt;
    t.log(
      `pending Lease reclaimed ${reclaimedAfter.toFixed(0)} ms after it was written, ${(performance.now() - refusedAt).toFixed(0)} ms after the refusal (pending timeout ${PENDING_S} s, sweep every ${FAST.sweepSeconds} s)`,
    );
    // The leader reclaims one pending timeout after it first saw the Lease: at its next sweep at the latest.
    t.true(reclaimedAfter >= PENDING_S * 1000 - 1000, 'not before the pending timeout');
    t.true(
      reclaimedAfter < (PENDING_S + FAST.sweepSeconds + 3) * 1000,
      'within the pending timeout and one sweep interval',
    );
    await createWe('we-after', target);
    t.is(lockOf(await lease(target))?.object.name, 'we-after');
  },
);

serial(
  'killing the leader hands release work to another replica within one lease duration; nothing is released twice or wrongly',
  async (t) => {
    const old = await until('a leader', async () => (await leaderIdentity()) || undefined, 15_000);
    const idx = replicas.replicas.findIndex((r) => r.identity === old);
    t.true(idx >= 0, `leader ${old} is one of the replicas`);
    const live = Array.from({ length: 3 }, (_, i) => `${NS}/Deployment/keep-${i}`);
    const done = Array.from({ length: 3 }, (_, i) => `${NS}/Deployment/done-${i}`);
    for (const [i, target] of live.entries()) await createWe(`we-keep-${i}`, target);
    for (const [i, target] of done.entries()) await createWe(`we-done-${i}`, target);
    const leaseNames = async (keys: string[]) => Promise.all(keys.map(async (k) => (await lease(k))!.metadata!.name!));
    const doneLeases = await leaseNames(done);
    const liveLeases = await leaseNames(live);
    const killedAt = performance.now();
    await replicas.kill(idx);
    const next = await until(
      'a new leader',
      async () => {
        const id = await leaderIdentity();
        return id && id !== old ? id : undefined;
      },
      (LEADER_LEASE_S + 3) * 1000,
    );
    const handover = performance.now() - killedAt;
    t.log(`leadership moved from ${old} to ${next} in ${handover.toFixed(0)} ms (lease duration ${LEADER_LEASE_S} s)`);
    t.true(handover <= (LEADER_LEASE_S + 1) * 1000, `handover took ${handover.toFixed(0)} ms`);
    for (const [i] of done.entries()) await setStatus('workflowexecutions', `we-done-${i}`, { phase: 'Completed' });
    for (const k of done) await until(`${k} released`, async () => !(await lease(k)), 10_000);
    for (const k of live) t.truthy(await lease(k), `${k} still held`);
    // (Logs are flushed every second.)
    const releases = await until(
      'every release to be logged',
      async () => {
        const all = await releasedLog();
        return doneLeases.every((n) => all.some((r) => r.lease === n)) && all;
      },
      5000,
    );
    // Each finished holder's Lease released once, for completion, by the new leader; a live holder's never.
    for (const name of doneLeases) {
      const lines = releases.filter((r) => r.lease === name);
      t.is(lines.length, 1, `releases of ${name}: ${JSON.stringify(lines)}`);
      t.is(lines[0]?.identity, next, `${name} released by the new leader`);
      // By its watch, or by its first sweep should the completion reach it in its initial list.
      t.true(['completed', 'swept'].includes(lines[0]?.reason ?? ''), `${name} released as ${lines[0]?.reason}`);
    }
    for (const name of liveLeases)
      t.deepEqual(
        releases.filter((r) => r.lease === name),
        [],
        `${name} was never released`,
      );
    await replicas.restart(idx);
  },
);

serial(
  '`leaseguard locks` shows what kubectl get leases holds, and `locks release --force` frees a target',
  async (t) => {
    const target = `${NS}/Deployment/cli`;
    await createWe('we-cli', target);
    const kubeconfig = controlPlane().kubeconfigs.leaseguard;
    const { stdout } = await run(process.execPath, [
      CLI,
      'locks',
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      replicas.leaseNamespace,
    ]);
    const header = stdout.split('\n')[0] ?? '';
    t.regex(header, /^KEY\s+KIND\s+HOLDER\s+REQUESTER\s+STATE\s+AGE\s+LEASE$/);
    const row = stdout.split('\n').find((l) => l.startsWith(`${target} `));
    t.truthy(row);
    t.regex(
      row ?? '',
      new RegExp(
        `WorkflowExecution\\s+${NS}/we-cli\\s+system:serviceaccount:kubernaut-system:remediationorchestrator\\s+(pending|bound)`,
      ),
    );
    const json = JSON.parse(
      (
        await run(process.execPath, [
          CLI,
          'locks',
          '-o',
          'json',
          '--kubeconfig',
          kubeconfig,
          '--namespace',
          replicas.leaseNamespace,
        ])
      ).stdout,
    );
    const kubectlKeys = (
      await kubectl([
        '-n',
        replicas.leaseNamespace,
        'get',
        'leases',
        '-l',
        'app.kubernetes.io/managed-by=leaseguard',
        '-o',
        'json',
      ])
    ).stdout;
    const fromKubectl = JSON.parse(kubectlKeys)
      .items.map((l: any) => lockOf(l)?.key)
      .sort();
    t.deepEqual(json.map((r: { key: string }) => r.key).sort(), fromKubectl);

    const refused = await run(process.execPath, [
      CLI,
      'locks',
      'release',
      target,
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      replicas.leaseNamespace,
    ]).catch((e) => e);
    t.is(refused.code, 1);
    t.regex(refused.stderr, /refusing without --force/);
    t.truthy(await lease(target), 'not released without --force');
    const released = await run(process.execPath, [
      CLI,
      'locks',
      'release',
      target,
      '--force',
      '--yes',
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      replicas.leaseNamespace,
    ]);
    t.regex(released.stdout, /Lock "rel-prod\/Deployment\/cli" is held by workflowexecution rel-prod\/we-cli/);
    t.regex(released.stdout, /Released "rel-prod\/Deployment\/cli"/);
    await createWe('we-cli-2', target);
    t.is(lockOf(await lease(target))?.object.name, 'we-cli-2');
    const labels = (await kubectl(['get', 'namespace', NS, '-o', `jsonpath={.metadata.labels.${SCOPE_LABEL}}`])).stdout;
    t.is(labels, SCOPE);
  },
);
