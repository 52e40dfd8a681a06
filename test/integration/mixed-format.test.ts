// Rolling upgrades across Lease formats, on the real control plane: one webhook
// registration in front of three replicas, replaced one at a time as a Deployment's rollout
// replaces them, from the previous release (its real code, built from its commit: format 1
// only) through this version writing format 1 (the upgrade's first step), to this version
// writing format 2. At every mix, through storms of concurrent creates per key, take-overs
// (the holder finished or deleted) and releases (led by either kind of replica): one object
// per key, and every Lease released. Last, the upgrade done without its first step (the
// previous release beside format 2 writers): still no duplicate, since the previous release
// refuses keys whose Lease it cannot read, and every Lease released once this version leads.
import test, { type ExecutionContext } from 'ava';
import { leaseName } from '../../src/core/lease-name.js';
import { MANAGED_SELECTOR, leaseFormatOf } from '../../src/core/lock-record.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import { coordination, customObjects, kubectl } from '../harness/integration-env.js';
import { metricValue } from '../harness/metrics.js';
import { apiError, retryingThrottled, workflowExecution } from '../harness/objects.js';
import { CLI } from '../harness/paths.js';
import { previousReleaseCli } from '../support/previous-release.js';
import { FAST, FAST_RELEASE_ENV, ReplicaSet, scopedNamespace } from '../harness/replicas.js';
import { sleep, until } from '../harness/wait.js';

const SCOPE = 'mixed-format';
const NS = 'mixfmt-prod';
const GROUP = { group: 'kubernaut.ai', version: 'v1alpha1', namespace: NS };
const KEYS_PER_ROUND = 4;
const STORM = 6;

/** What each replica runs: the previous release, or this version writing format 1 or 2. */
type Kind = 'previous' | 'format-1' | 'format-2';
const kinds: Kind[] = ['previous', 'previous', 'previous'];
let set: ReplicaSet | undefined;
const replicas = () => set!;

test.before(async () => {
  const previous = await previousReleaseCli(undefined, (s) => process.stderr.write(`${s}\n`));
  set = await ReplicaSet.start({
    scope: SCOPE,
    count: kinds.length,
    timeoutSeconds: FAST.timeoutSeconds,
    env: FAST_RELEASE_ENV,
    replicaCli: (i) => (kinds[i] === 'previous' ? previous : CLI),
    // This version at its defaults writes format 1, what a plain rolling upgrade runs; format 2 is set.
    replicaEnv: (i): Record<string, string> => (kinds[i] === 'format-2' ? { LEASEGUARD_LEASE_FORMAT: '2' } : {}),
  });
  await scopedNamespace(SCOPE, NS);
});
test.after.always(async () => {
  await set?.stop();
  await kubectl(['delete', 'workflowexecutions', '--all', '-n', NS, '--wait=false']);
});

/** Replaces replica i with one of `kind`, as a rollout does: SIGTERM, then the new one, ready. */
async function replace(i: number, kind: Kind): Promise<void> {
  kinds[i] = kind;
  await replicas().kill(i, 'SIGTERM');
  await replicas().restart(i);
}

/** Makes a replica of `kind` the leader: the leader steps down (SIGTERM) and comes back as a follower until one of `kind` leads. */
async function lead(kind: Kind): Promise<number> {
  for (let attempt = 0; attempt < 12; attempt++) {
    const leader = await replicas().leader();
    if (kinds[leader] === kind) return leader;
    await replicas().kill(leader, 'SIGTERM');
    await until(
      'another replica to lead',
      async () => {
        const pages = await replicas().metrics();
        return pages.some((p, i) => i !== leader && /^leaseguard_leader 1$/m.test(p));
      },
      (FAST.leaderLeaseSeconds + 10) * 1000,
    );
    await replicas().restart(leader);
  }
  throw new Error(`no ${kind} replica came to lead`);
}

const create = (name: string, target: string) =>
  retryingThrottled(() =>
    customObjects('controller').createNamespacedCustomObject({
      ...GROUP,
      plural: 'workflowexecutions',
      body: workflowExecution(NS, name, target),
    }),
  ).then(
    (o) => ({ ok: true as const, name: (o as { metadata: { name: string } }).metadata.name }),
    (err) => ({ ok: false as const, err: apiError(err) }),
  );
const finish = (name: string) =>
  customObjects('controller').patchNamespacedCustomObjectStatus({
    ...GROUP,
    plural: 'workflowexecutions',
    name,
    body: [{ op: 'add', path: '/status', value: { phase: 'Completed' } }],
  });
const remove = (name: string) =>
  customObjects('controller').deleteNamespacedCustomObject({ ...GROUP, plural: 'workflowexecutions', name });

/** Live (not finished) objects per key, as stored. */
async function liveByKey(): Promise<Map<string, string[]>> {
  const list = (await customObjects('admin').listNamespacedCustomObject({
    ...GROUP,
    plural: 'workflowexecutions',
  })) as { items: any[] };
  const out = new Map<string, string[]>();
  for (const o of list.items) {
    if (o.status?.phase === 'Completed' || o.metadata.deletionTimestamp) continue;
    out.set(o.spec.targetResource, [...(out.get(o.spec.targetResource) ?? []), o.metadata.name]);
  }
  return out;
}

/**
 * The managed Leases of `keys`, found by name (the key's hash-named identity), not by what
 * they record: a check that must not lean on the codec it checks.
 */
async function leasesOf(keys: readonly string[]) {
  const rule = DEFAULT_RULES.find((r) => r.kind === 'WorkflowExecution')!;
  const names = new Set(keys.map((k) => leaseName(rule, k)));
  return (
    await coordination('admin').listNamespacedLease({
      namespace: replicas().leaseNamespace,
      labelSelector: MANAGED_SELECTOR,
    })
  ).items.filter((l) => names.has(l.metadata?.name ?? ''));
}

/** Validating admissions each replica answered so far (0 for one that is down). */
async function answered(): Promise<number[]> {
  return (await replicas().metrics()).map(
    (p) => metricValue(p, 'leaseguard_admission_requests_total', { webhook: 'validate' }) || 0,
  );
}

/** What one round saw, for the stage's checks and log. */
interface RoundReport {
  formats: Set<number>;
  served: number[];
}

/**
 * One round on fresh keys: a storm per key (one admitted), a take-over per key (its holder
 * finished or deleted; a storm again, one admitted), then every holder finished or deleted
 * and every Lease released by the leader's release work. No key ever has two live objects.
 */
async function round(t: ExecutionContext, tag: string): Promise<RoundReport> {
  const before = await answered();
  const keys = Array.from({ length: KEYS_PER_ROUND }, (_, j) => `${NS}/Deployment/${tag}-${j}`);
  const formats = new Set<number>();
  const noDuplicate = async (when: string) => {
    const live = await liveByKey();
    for (const k of keys)
      t.true((live.get(k)?.length ?? 0) <= 1, `${tag} ${when}: key ${k} has live objects ${live.get(k)?.join(', ')}`);
  };
  const storm = async (k: string, j: number, wave: string) => {
    const results = await Promise.all(Array.from({ length: STORM }, (_, n) => create(`${tag}-${j}-${wave}-${n}`, k)));
    for (const r of results)
      if (!r.ok)
        t.true(
          [409, 500, 503].includes(r.err.code),
          `${tag}: a refusal is a denial, not an error of another kind: ${JSON.stringify(r.err)}`,
        );
    return results.filter((r) => r.ok).map((r) => (r.ok ? r.name : ''));
  };

  // Storm: every key, STORM concurrent creates, exactly one admitted.
  const holders = await Promise.all(
    keys.map(async (k, j) => {
      const won = await storm(k, j, 'a');
      t.is(won.length, 1, `${tag}: key ${k} admitted ${won.join(', ')}`);
      return won[0]!;
    }),
  );
  await noDuplicate('after the storm');
  const held = await leasesOf(keys);
  t.is(held.length, keys.length, `${tag}: one Lease per key`);
  for (const l of held) formats.add(leaseFormatOf(l) ?? -1);

  // Take-over: half the holders finish, half are deleted; the next storm admits one per key.
  await Promise.all(holders.map((h, j) => (j % 2 ? remove(h) : finish(h))));
  const next = await Promise.all(
    keys.map(async (k, j) => {
      let won: string[] = [];
      const deadline = Date.now() + (FAST.pendingSeconds + FAST.sweepSeconds + 8) * 1000;
      for (let wave = 0; won.length === 0 && Date.now() < deadline; wave++) {
        won = await storm(k, j, `b${wave}`);
        if (won.length === 0) await sleep(500);
      }
      t.is(
        won.length,
        1,
        `${tag}: after its holder ${j % 2 ? 'was deleted' : 'finished'}, key ${k} admitted ${won.join(', ') || 'nothing'}`,
      );
      return won[0];
    }),
  );
  await noDuplicate('after the take-overs');
  for (const l of await leasesOf(keys)) formats.add(leaseFormatOf(l) ?? -1);

  // Release: every holder finishes or is deleted; the leader's release work deletes every Lease.
  await Promise.all(next.map((h, j) => (h ? (j % 2 ? finish(h) : remove(h)) : Promise.resolve())));
  await until(
    `${tag}: every Lease of the round released`,
    async () => (await leasesOf(keys)).length === 0,
    (FAST.sweepSeconds + 20) * 1000,
  );
  const after = await answered();
  return { formats, served: after.map((n, i) => n - (before[i] ?? 0)) };
}

/** Rounds led by a replica of each kind in `leaders`, in the mix now running. */
async function stage(t: ExecutionContext, name: string, leaders: Kind[]): Promise<void> {
  t.timeout(5 * 60_000);
  const formats = new Set<number>();
  const served = kinds.map(() => 0);
  for (const kind of leaders) {
    const leader = await lead(kind);
    const r = await round(t, `${name}-${kind}`);
    r.formats.forEach((f) => formats.add(f));
    r.served.forEach((n, i) => (served[i]! += Math.max(0, n)));
    t.log(
      `${name} [${kinds.join(', ')}], led by replica ${leader} (${kind}): Lease formats seen ${[...r.formats].join(', ')}, admissions answered per replica ${r.served.join(', ')}`,
    );
  }
  // A real mix: every kind of replica in the set answered admissions.
  for (const kind of new Set(kinds))
    t.true(
      kinds.some((k, i) => k === kind && served[i]! > 0),
      `${name}: no ${kind} replica answered an admission`,
    );
  const leader = await replicas().leader();
  t.is(
    metricValue((await replicas().metrics())[leader] ?? '', 'leaseguard_duplicate_keys', {
      kind: 'WorkflowExecution',
    }) || 0,
    0,
    'the duplicate monitor counts none',
  );
}

test.serial('the previous release alone: format 1', async (t) => {
  await stage(t, 'previous', ['previous']);
});

test.serial('upgrade step 1: the previous release beside this version writing format 1', async (t) => {
  await replace(0, 'format-1');
  await stage(t, 'step1-one', ['previous', 'format-1']);
  await replace(1, 'format-1');
  await stage(t, 'step1-two', ['format-1', 'previous']);
  await replace(2, 'format-1');
});

test.serial('upgrade step 2: format 1 writers beside format 2 writers', async (t) => {
  await replace(0, 'format-2');
  await stage(t, 'step2-one', ['format-1', 'format-2']);
  await replace(1, 'format-2');
  await stage(t, 'step2-two', ['format-2', 'format-1']);
  await replace(2, 'format-2');
  await stage(t, 'format-2', ['format-2']);
});

test.serial(
  'an upgrade without step 1: the previous release beside format 2 writers admits no duplicate',
  async (t) => {
    t.timeout(5 * 60_000);
    await replace(0, 'previous');
    // The previous release leads: it cannot read format 2, so it neither admits on such a
    // Lease (it refuses the key) nor releases it; this version, leading, does.
    await lead('previous');
    const keys = Array.from({ length: KEYS_PER_ROUND }, (_, j) => `${NS}/Deployment/skip-${j}`);
    const holders: string[] = [];
    for (const [j, k] of keys.entries()) {
      const results = await Promise.all(Array.from({ length: STORM }, (_, n) => create(`skip-${j}-a-${n}`, k)));
      const won = results.filter((r) => r.ok);
      t.is(won.length, 1, `key ${k}`);
      holders.push(won[0]?.ok ? won[0].name : '');
    }
    const live = await liveByKey();
    for (const k of keys) t.is(live.get(k)?.length, 1);
    await Promise.all(holders.map((h) => finish(h)));
    // The API server keeps the connections the earlier stages' storms opened, all to the
    // format 2 replicas that were running then; cut them, so its next calls reconnect round
    // robin and the previous release answers its share.
    replicas().forwarder.dropConnections();
    await sleep(500);
    // Past the holders' end, creates keep coming: the previous release refuses the keys whose
    // Lease is in format 2 (a foreign Lease to it), this version takes them over. Never two.
    let unreadable = 0;
    for (let wave = 0; wave < 4; wave++) {
      const results = (
        await Promise.all(
          keys.map((k, j) => Promise.all(Array.from({ length: 3 }, (_, n) => create(`skip-${j}-b${wave}-${n}`, k)))),
        )
      ).flat();
      unreadable += results.filter(
        (r) => !r.ok && r.err.code === 500 && /records no readable leaseguard lock/.test(r.err.message ?? ''),
      ).length;
      const now = await liveByKey();
      for (const k of keys) t.true((now.get(k)?.length ?? 0) <= 1, `key ${k}: ${now.get(k)?.join(', ')}`);
    }
    t.log(`creates the previous release refused on a format 2 Lease: ${unreadable}`);
    t.true(unreadable > 0, 'the previous release met format 2 Leases (and refused their keys)');
    const byKey = await liveByKey();
    await Promise.all(keys.flatMap((k) => (byKey.get(k) ?? []).map((h) => finish(h))));
    await lead('format-2');
    await until(
      'every Lease released once this version leads',
      async () => (await leasesOf(keys)).length === 0,
      (FAST.sweepSeconds + 20) * 1000,
    );
    t.pass();
  },
);
