// docs/kubernaut-migration.md maps Kubernaut's planned lock metrics and alerts to
// leaseguard's: every leaseguard name it gives must be one leaseguard has.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { Registry } from 'prom-client';
import { createMetrics } from '../../src/metrics.js';

const page = readFileSync(join(process.cwd(), 'docs/kubernaut-migration.md'), 'utf8');
const names = (re: RegExp) => [...new Set([...page.matchAll(re)].map((m) => m[0]))];

test('every leaseguard metric the migration page names is one src/metrics.ts registers', async (t) => {
  const registered = new Set(
    (await createMetrics(new Registry(), { defaultMetrics: false }).registry.getMetricsAsJSON()).map((m) => m.name),
  );
  const named = names(/\bleaseguard_[a-z_]+/g).map((n) => n.replace(/_(bucket|sum|count)$/, ''));
  t.true(named.length >= 10, `the page names leaseguard's metrics (${named.length})`);
  t.deepEqual(
    named.filter((n) => !registered.has(n)),
    [],
  );
});

test('every leaseguard alert the migration page names is in the shipped PrometheusRule', (t) => {
  const rules = readFileSync(join(process.cwd(), 'manifests/monitoring/prometheusrule.yaml'), 'utf8');
  const alerts = names(/\bLeaseguard[A-Z][A-Za-z]+/g);
  t.true(alerts.length >= 3);
  t.deepEqual(
    alerts.filter((a) => !rules.includes(`alert: ${a}\n`)),
    [],
  );
});

test('every leaseguard file the migration page cites exists', (t) => {
  const cited = names(/`((?:bench|test|manifests|src)\/[^`\s]+)`/g).map((c) => c.slice(1, -1));
  t.true(cited.length >= 5);
  t.deepEqual(
    cited.filter((f) => {
      try {
        readFileSync(join(process.cwd(), f));
        return false;
      } catch {
        return true;
      }
    }),
    [],
  );
});

test('the README links the migration page', (t) => {
  t.true(readFileSync(join(process.cwd(), 'README.md'), 'utf8').includes('(docs/kubernaut-migration.md)'));
});
