// Decisions as Kubernetes Events, on the real control plane: a 200-create storm is a
// handful of LockBusy Events whose counts add up to the busy denials the metrics count;
// server-side dry runs write none; a take-over is an Event and a warning kubectl prints; a
// forced release is a Warning Event naming who released it. The leader Lease is held by
// someone who is not a replica, so no release work runs and locks stay as the test left
// them (the duplicate monitor's Events: invariant-monitor.test.ts).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';
import { CoreV1Api, type CoreV1Event } from '@kubernetes/client-node';
import { MANAGED_SELECTOR } from '../../src/core/lock-record.js';
import { EventReasons } from '../../src/kube/event-recorder.js';
import { controlPlane, coordination, customObjects, kubeConfigFor, kubectl } from '../harness/integration-env.js';
import { apiError, retryingThrottled, workflowExecution } from '../harness/objects.js';
import { CLI } from '../harness/paths.js';
import { forEachConcurrently } from '../harness/pool.js';
import {
  FAST,
  FAST_RELEASE_ENV,
  ReplicaSet,
  holdLeadership,
  leaseNamespace,
  scopedNamespace,
} from '../harness/replicas.js';
import { sleep, until } from '../harness/wait.js';
import { lockOf } from '../support/lock-of.js';

const run = promisify(execFile);
const SCOPE = 'events';
const NS = 'events-prod';
const LEASE_NS = `lg-${SCOPE}`;
const GROUP = { group: 'kubernaut.ai', version: 'v1alpha1' };

let replicas: ReplicaSet;

test.before(async () => {
  await leaseNamespace(LEASE_NS);
  // No replica leads: admission alone runs, and nothing releases the locks under test.
  await holdLeadership(LEASE_NS);
  replicas = await ReplicaSet.start({
    scope: SCOPE,
    count: 3,
    timeoutSeconds: FAST.timeoutSeconds,
    env: FAST_RELEASE_ENV,
  });
  await scopedNamespace(SCOPE, NS);
});
test.after.always(async () => {
  await replicas?.stop();
});

const createWe = (name: string, target: string) =>
  retryingThrottled(() =>
    customObjects('controller').createNamespacedCustomObject({
      ...GROUP,
      namespace: NS,
      plural: 'workflowexecutions',
      body: workflowExecution(NS, name, target),
    }),
  );

async function events(reason: string): Promise<CoreV1Event[]> {
  const core = kubeConfigFor('admin').makeApiClient(CoreV1Api);
  return (await core.listNamespacedEvent({ namespace: LEASE_NS, fieldSelector: `reason=${reason}` })).items;
}
const countOf = (list: CoreV1Event[]) => list.reduce((n, e) => n + (e.count ?? 1), 0);

async function leaseOf(target: string): Promise<{ name: string; uid: string }> {
  const leases = (
    await coordination('leaseguard').listNamespacedLease({ namespace: LEASE_NS, labelSelector: MANAGED_SELECTOR })
  ).items;
  const l = leases.find((x) => lockOf(x)?.key === target);
  if (!l?.metadata?.name || !l.metadata.uid) throw new Error(`no Lease for ${target}`);
  return { name: l.metadata.name, uid: l.metadata.uid };
}

test.serial(
  'a 200-create storm on 4 held keys: a few LockBusy Events whose counts add up to the busy denials; dry runs add none',
  async (t) => {
    const targets = Array.from({ length: 4 }, (_, k) => `${NS}/Deployment/storm-${k}`);
    for (const [k, target] of targets.entries()) await createWe(`we-holder-${k}`, target);
    const contentionBefore = await replicas.metricSum('leaseguard_lock_contention_total');
    const answers: number[] = [];
    await forEachConcurrently(200, 20, async (i) => {
      const code = await createWe(`we-storm-${i}`, targets[i % 4]!).then(
        () => 201,
        (e) => apiError(e).code,
      );
      answers.push(code);
    });
    t.deepEqual([...new Set(answers)], [409], 'every create of the storm refused as busy');
    const denials = (await replicas.metricSum('leaseguard_lock_contention_total')) - contentionBefore;
    t.is(denials, 200);

    // The recorder writes an Event's count at most once a second: wait for the last ones.
    const stormEnded = Date.now();
    const busy = await until(
      'the Events to count every denial',
      async () => {
        const list = await events(EventReasons.busy);
        return countOf(list) === denials ? list : undefined;
      },
      20_000,
    );
    t.log(
      `${busy.length} LockBusy Events for ${denials} denials, counts caught up ${Date.now() - stormEnded} ms after the storm; counts: ${busy.map((e) => e.count).join(', ')}`,
    );
    t.true(
      busy.length >= targets.length && busy.length <= targets.length * replicas.replicas.length,
      `${busy.length} Events for 200 denials`,
    );
    for (const [k, target] of targets.entries()) {
      const { name: lease, uid } = await leaseOf(target);
      const mine = busy.filter((e) => e.involvedObject.name === lease);
      t.true(mine.length >= 1, `an Event about ${lease}`);
      t.is(countOf(mine), 50, `${target}'s Events count its 50 denials`);
      for (const e of mine) {
        t.is(e.type, 'Normal');
        t.is(e.involvedObject.kind, 'Lease');
        t.is(e.involvedObject.namespace, LEASE_NS);
        t.is(e.involvedObject.uid, uid, "the Lease's uid: kubectl describe selects Events by it");
        t.regex(
          e.message ?? '',
          new RegExp(
            `^refused creates of workflowexecution: target "${target}" is held by workflowexecution ${NS}/we-holder-${k} \\(requested by system:serviceaccount:kubernaut-system:remediationorchestrator\\)`,
          ),
        );
        t.true(
          replicas.replicas.some((r) => r.identity === e.source?.host),
          'source names the replica',
        );
      }
    }

    // Where an operator looks first: the Lease's own description lists its Events.
    const described = await kubectl(['-n', LEASE_NS, 'describe', 'lease', (await leaseOf(targets[0]!)).name]);
    t.is(described.code, 0, described.stderr);
    t.regex(
      described.stdout,
      /^Events:\n(.*\n)*\s+Normal\s+LockBusy\s+.*refused creates of workflowexecution: target "events-prod\/Deployment\/storm-0" is held by/m,
    );

    // kubectl create --dry-run=server: the same refusal, no Event and no count.
    for (let i = 0; i < 5; i++) {
      const r = await kubectl(['create', '--dry-run=server', '-f', '-'], {
        identity: 'controller',
        input: JSON.stringify(workflowExecution(NS, `we-dry-${i}`, targets[0]!)),
      });
      t.regex(r.stderr, /is busy: held by workflowexecution events-prod\/we-holder-0/);
    }
    t.is(
      (await replicas.metricSum('leaseguard_lock_contention_total')) - contentionBefore,
      205,
      'the dry runs were decided',
    );
    await sleep(2500);
    t.is(countOf(await events(EventReasons.busy)), denials, 'and recorded no Event');
  },
);

test.serial(
  'a take-over from a finished holder: kubectl prints the warning, and a LockTakenOver Event names both objects',
  async (t) => {
    const target = `${NS}/Deployment/takeover`;
    await createWe('we-old', target);
    await customObjects('controller').patchNamespacedCustomObjectStatus({
      ...GROUP,
      namespace: NS,
      plural: 'workflowexecutions',
      name: 'we-old',
      body: [{ op: 'add', path: '/status', value: { phase: 'Completed' } }],
    });
    const r = await kubectl(['create', '-f', '-'], {
      identity: 'controller',
      input: JSON.stringify(workflowExecution(NS, 'we-new', target)),
    });
    t.is(r.code, 0, r.stderr);
    t.regex(
      r.stderr,
      /Warning: leaseguard: took over the lock on target "events-prod\/Deployment\/takeover" from finished workflowexecution events-prod\/we-old/,
    );
    const { name: lease, uid } = await leaseOf(target);
    const taken = await until(
      'the LockTakenOver Event',
      async () => (await events(EventReasons.takenOver)).find((e) => e.involvedObject.name === lease),
      10_000,
    );
    t.is(taken.type, 'Normal');
    t.is(taken.involvedObject.uid, uid, 'a take-over replaces the Lease, keeping its uid');
    t.is(
      taken.message,
      `workflowexecution ${NS}/we-new took over the lock on target "${target}" from finished workflowexecution ${NS}/we-old`,
    );
    t.is(countOf(await events(EventReasons.takenOver)), await replicas.metricSum('leaseguard_lock_takeovers_total'));
  },
);

test.serial('a forced release is a Warning Event naming who released it and what held the lock', async (t) => {
  const target = `${NS}/Deployment/forced`;
  await createWe('we-forced', target);
  const { name: lease, uid } = await leaseOf(target);
  const out = await run(process.execPath, [
    CLI,
    'locks',
    'release',
    target,
    '--force',
    '--yes',
    '--kubeconfig',
    controlPlane().kubeconfigs.breakglass,
    '--namespace',
    LEASE_NS,
  ]);
  t.regex(out.stdout, /Released/);
  t.is(out.stderr, '', 'the Event was written');
  const released = (await events(EventReasons.releasedByHand)).filter((e) => e.involvedObject.name === lease);
  t.is(released.length, 1);
  t.is(released[0]!.type, 'Warning');
  t.regex(
    released[0]!.message ?? '',
    /^lock "events-prod\/Deployment\/forced" released by hand by oncall@example\.com: it was held by workflowexecution events-prod\/we-forced \(requested by system:serviceaccount:kubernaut-system:remediationorchestrator\)/,
  );
  t.is(released[0]!.source?.component, 'leaseguard-cli');
  t.is(released[0]!.involvedObject.uid, uid);
});
