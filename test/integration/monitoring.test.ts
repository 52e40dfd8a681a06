// The monitoring bundle (manifests/monitoring): every alert unit-tested with the real
// promtool (built from the prometheus module by scripts/ensure-promtool.sh); every metric
// an alert or a dashboard panel names is one a live leaseguard leader exports; every panel
// query parses (promtool) and selects or groups only by labels its metrics have; and the
// stuck-pending gauge the LeaseguardLeasesStuckPending alert reads rises for a Lease its
// leader cannot see stored (here: a guarded kind leaseguard has no RBAC to watch), with
// the watch-health gauge LeaseguardWatchUnhealthy reads at 0.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { dumpYaml, loadYaml } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import { createMetrics } from '../../src/metrics.js';
import { kubectl } from '../harness/integration-env.js';
import { metricValue } from '../harness/metrics.js';
import { ROOT } from '../harness/paths.js';
import { FAST, FAST_RELEASE_ENV, ReplicaSet, scopedNamespace } from '../harness/replicas.js';
import { until } from '../harness/wait.js';

const run = promisify(execFile);
const SCOPE = 'monitoring';
const NS = 'monitoring-prod';
const MONITORING = join(ROOT, 'manifests/monitoring');

type Obj = Record<string, any>;

/** A guarded kind leaseguard's ServiceAccount may not read (rbac.yaml grants the kubernaut kinds only). */
const UNREADABLE = {
  group: 'apps',
  version: 'v1',
  kind: 'Deployment',
  resource: 'deployments',
  keyPath: 'metadata.name',
  phasePath: 'status.phase',
  terminalPhases: ['Never'],
  scope: 'namespace',
};

let replicas: ReplicaSet;
test.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lg-monitoring-'));
  const config = join(dir, 'config.json');
  await writeFile(config, JSON.stringify({ includeDefaultRules: false, rules: [...DEFAULT_RULES, UNREADABLE] }));
  replicas = await ReplicaSet.start({
    scope: SCOPE,
    count: 1,
    timeoutSeconds: FAST.timeoutSeconds,
    env: { ...FAST_RELEASE_ENV, LEASEGUARD_CONFIG: config },
  });
  await scopedNamespace(SCOPE, NS);
});
test.after.always(async () => {
  await replicas?.stop();
});

async function promtool(): Promise<string> {
  return (await run('bash', [join(ROOT, 'scripts/ensure-promtool.sh')], { cwd: ROOT })).stdout.trim();
}

const rule = async () => loadYaml<Obj>(await readFile(join(MONITORING, 'prometheusrule.yaml'), 'utf8'));
const dashboard = async () => JSON.parse(await readFile(join(MONITORING, 'grafana-dashboard.json'), 'utf8')) as Obj;

/** The leaseguard_* names a PromQL expression reads, a histogram's series mapped to the histogram. */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\bleaseguard_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''));
}

/** The metric families a /metrics page declares (`# TYPE name type`). */
function exported(page: string): Set<string> {
  return new Set([...page.matchAll(/^# TYPE (\S+) \S+$/gm)].map((m) => m[1]!));
}

test('promtool: the rules are valid and every alert passes its unit tests', async (t) => {
  const bin = await promtool();
  const dir = await mkdtemp(join(tmpdir(), 'lg-promtool-'));
  await writeFile(join(dir, 'rules.yaml'), dumpYaml((await rule()).spec));
  await writeFile(
    join(dir, 'alerts.test.yaml'),
    await readFile(join(ROOT, 'test/monitoring/alerts.test.yaml'), 'utf8'),
  );
  const check = await run(bin, ['check', 'rules', join(dir, 'rules.yaml')]);
  t.regex(check.stdout, /SUCCESS: 11 rules found/);
  const tested = await run(bin, ['test', 'rules', join(dir, 'alerts.test.yaml')]).catch(
    (e: { stdout: string; stderr: string }) => e,
  );
  t.regex(tested.stdout, /SUCCESS/, `${tested.stdout}${tested.stderr}`);
  // Every alert has a test that expects it to fire.
  const alerts = new Set(
    ((await rule()).spec.groups as Obj[]).flatMap((g) => (g.rules as Obj[]).map((r) => r.alert as string)),
  );
  const cases = loadYaml<Obj>(await readFile(join(ROOT, 'test/monitoring/alerts.test.yaml'), 'utf8'));
  const firing = new Set(
    (cases.tests as Obj[]).flatMap((c) =>
      (c.alert_rule_test as Obj[]).filter((a) => (a.exp_alerts as Obj[]).length > 0).map((a) => a.alertname as string),
    ),
  );
  t.deepEqual([...alerts].sort(), [...firing].sort());
});

test('every metric an alert or a dashboard panel names is exported by a live leader', async (t) => {
  const leader = await replicas.leader();
  const page = (await replicas.metrics())[leader]!;
  const names = exported(page);
  const fromQueries = (await expressions()).flatMap((e) => metricNames(e.expr));
  const fromVariables = ((await dashboard()).templating.list as Obj[]).flatMap((v) =>
    typeof v.definition === 'string' ? metricNames(v.definition) : [],
  );
  const wanted = [...new Set([...fromQueries, ...fromVariables])].sort();
  t.true(wanted.length >= 14, `${wanted.length} metrics named`);
  t.deepEqual(
    wanted.filter((n) => !names.has(n)),
    [],
    'named but not exported',
  );
  // The check can fail: a name the server does not export is caught.
  t.false(names.has('leaseguard_lock_acquisitions_total'));
});

test('a live replica samples its event loop into leaseguard_event_loop_delay_seconds', async (t) => {
  const count = async () =>
    metricValue((await replicas.metrics())[0] ?? '', 'leaseguard_event_loop_delay_seconds_count');
  const first = await count();
  // A sample every 100 ms: ten or so a second, however long the replica has run.
  const later = await until(
    'more event-loop samples',
    async () => ((await count()) >= first + 5 ? count() : undefined),
    5_000,
  );
  t.true(later >= first + 5, `${first} → ${later}`);
});

test("every alert's runbook_url names its page under docs/runbooks/, every page there is an alert's, and its severity is warning or critical", async (t) => {
  const pages = new Set((await readdir(join(ROOT, 'docs/runbooks'))).filter((f) => f.endsWith('.md')));
  const alerts = ((await rule()).spec.groups as Obj[]).flatMap((g) => (g.rules as Obj[]).filter((r) => r.alert));
  t.true(alerts.length >= 9);
  for (const a of alerts) {
    t.is(a.annotations?.runbook_url, `docs/runbooks/${a.alert}.md`, `${a.alert}: runbook_url names its own page`);
    t.true(pages.has(`${a.alert}.md`), `${a.alert}: docs/runbooks/${a.alert}.md exists`);
    t.is(a.annotations?.runbook, undefined, `${a.alert}: no README anchor left`);
    t.true(['warning', 'critical'].includes(a.labels?.severity), `${a.alert} severity`);
    // The page is about this alert (its title) and states the severity the rule gives it.
    const page = await readFile(join(ROOT, 'docs/runbooks', `${a.alert}.md`), 'utf8');
    t.regex(page, new RegExp(`^# ${a.alert}\\n`), `${a.alert}: page title`);
    t.regex(
      /^\*\*Severity:\*\* (.*)$/m.exec(page)?.[1] ?? '',
      new RegExp(`\\b${a.labels?.severity}\\b`),
      `${a.alert}: its page states severity ${a.labels?.severity}`,
    );
  }
  const named = new Set(alerts.map((a) => `${a.alert}.md`));
  t.deepEqual(
    [...pages].filter((p) => !named.has(p)),
    [],
    'no runbook page without its alert',
  );
  t.false(pages.has('LeaseguardNoSuchAlert.md'));
});

/** Every PromQL expression of the bundle: each alert's, and each panel's with Grafana's variables given values. */
async function expressions(): Promise<Array<{ where: string; expr: string }>> {
  const grafana = (expr: string) =>
    expr.replaceAll('$__rate_interval', '5m').replaceAll('$namespace', 'leaseguard-system');
  const fromRules = ((await rule()).spec.groups as Obj[]).flatMap((g) =>
    (g.rules as Obj[]).map((r) => ({ where: `rule ${r.alert ?? r.record}`, expr: r.expr as string })),
  );
  const fromPanels = ((await dashboard()).panels as Obj[]).flatMap((p) =>
    (p.targets as Obj[]).map((x) => ({
      where: `panel "${p.title}" ${x.refId ?? ''}`,
      expr: grafana(x.expr as string),
    })),
  );
  return [...fromRules, ...fromPanels];
}

/** Label names an expression selects or groups by, with the leaseguard metrics it reads. */
function labelsUsed(expr: string): string[] {
  const matchers = [...expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) =>
    [...m[1]!.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((x) => x[1]!),
  );
  const grouping = [...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) =>
    m[1]!
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  );
  return [...new Set([...matchers, ...grouping])];
}

test('every panel query parses as PromQL (promtool), and every label the alerts and panels use is one their metrics have', async (t) => {
  const exprs = await expressions();
  const dir = await mkdtemp(join(tmpdir(), 'lg-promql-'));
  const rules = {
    groups: [
      { name: 'dashboard', rules: exprs.map((e, i) => ({ record: `leaseguard_dashboard:query_${i}`, expr: e.expr })) },
    ],
  };
  await writeFile(join(dir, 'queries.yaml'), dumpYaml(rules));
  const check = await run(await promtool(), ['check', 'rules', join(dir, 'queries.yaml')]).catch(
    (e: { stdout: string; stderr: string }) => e,
  );
  t.regex(check.stdout, new RegExp(`SUCCESS: ${exprs.length} rules found`), `${check.stdout}${check.stderr}`);

  // Labels each metric is declared with (src/metrics.ts), whether or not a series exists yet;
  // the scrape adds namespace, pod, job and instance; histograms add le.
  const registry = new Registry();
  createMetrics(registry);
  const declared = new Map(
    registry.getMetricsAsArray().map((m) => [m.name, new Set((m as unknown as { labelNames: string[] }).labelNames)]),
  );
  const scraped = new Set(['namespace', 'pod', 'job', 'instance', 'le']);
  const wrong: string[] = [];
  for (const { where, expr } of exprs) {
    const metrics = metricNames(expr).filter((n) => declared.has(n));
    if (metrics.length === 0) continue;
    for (const label of labelsUsed(expr)) {
      if (scraped.has(label) || label === '__name__') continue;
      if (!metrics.some((m) => declared.get(m)!.has(label)))
        wrong.push(`${where}: label "${label}" is on none of ${metrics.join(', ')}`);
    }
  }
  t.deepEqual(wrong, []);
  // The check can fail: a label no metric has is caught.
  t.deepEqual(labelsUsed('sum by (kind, colour) (rate(leaseguard_lock_acquired_total{how="new"}[5m]))'), [
    'how',
    'kind',
    'colour',
  ]);
});

test('a Lease its leader cannot see stored raises leases_pending_overdue after the pending timeout and a sweep; the watch reports unhealthy', async (t) => {
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'api', namespace: NS },
    spec: {
      selector: { matchLabels: { app: 'api' } },
      template: {
        metadata: { labels: { app: 'api' } },
        spec: { containers: [{ name: 'c', image: 'registry.example/app:1' }] },
      },
    },
  };
  const created = await kubectl(['create', '-f', '-'], { input: JSON.stringify(deployment) });
  t.is(created.code, 0, created.stderr);
  const leader = await replicas.leader();
  const gauge = async (name: string) =>
    metricValue((await replicas.metrics())[leader] ?? '', name, { kind: 'Deployment' });
  t.is(await gauge('leaseguard_watch_healthy'), 0, 'the watch on Deployments is refused (no RBAC)');
  t.is(await gauge('leaseguard_leases_pending_overdue'), 0, 'not overdue yet');
  const started = Date.now();
  await until(
    'the overdue gauge',
    async () => (await gauge('leaseguard_leases_pending_overdue')) === 1,
    (FAST.pendingSeconds + 4 * FAST.sweepSeconds) * 1000,
  );
  const s = (Date.now() - started) / 1000;
  t.log(`overdue after ${s.toFixed(1)} s (pending timeout ${FAST.pendingSeconds} s, sweep ${FAST.sweepSeconds} s)`);
  t.true(s >= FAST.pendingSeconds, 'never before the pending timeout');
  t.is(
    metricValue((await replicas.metrics())[leader] ?? '', 'leaseguard_leases_pending_overdue', {
      kind: 'WorkflowExecution',
    }),
    0,
    'other kinds unaffected',
  );
});
