// The metrics reference is generated from the table the metrics are created from: the
// page in docs/ is what `leaseguard metrics` prints, and the registry has what it lists.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { Registry } from 'prom-client';
import { METRICS, createMetrics } from '../../src/metrics.js';
import { metricsDocMarkdown } from '../../src/metrics-doc.js';

const run = promisify(execFile);

test('docs/metrics.md is what `leaseguard metrics` prints (regenerate: node dist/src/cli.js metrics > docs/metrics.md)', async (t) => {
  const { stdout } = await run(process.execPath, [join(process.cwd(), 'dist/src/cli.js'), 'metrics']);
  t.is(stdout, metricsDocMarkdown());
  t.is(
    readFileSync(join(process.cwd(), 'docs/metrics.md'), 'utf8'),
    stdout,
    'docs/metrics.md is stale: regenerate it with node dist/src/cli.js metrics > docs/metrics.md',
  );
});

test('the registry holds exactly the table: every metric with its type, help, labels and buckets', async (t) => {
  const registry = new Registry();
  createMetrics(registry, { defaultMetrics: false });
  const made = registry.getMetricsAsArray() as unknown as Array<{
    name: string;
    help: string;
    labelNames: string[];
    upperBounds?: number[];
    constructor: { name: string };
  }>;
  t.deepEqual(
    made.map((m) => m.name).sort(),
    Object.values(METRICS)
      .map((s) => s.name)
      .sort(),
  );
  for (const spec of Object.values(METRICS)) {
    const m = made.find((x) => x.name === spec.name)!;
    t.is(m.help, spec.help, spec.name);
    t.is(m.constructor.name.toLowerCase(), spec.type, spec.name);
    t.deepEqual(m.labelNames, [...('labels' in spec ? spec.labels : [])], spec.name);
    if ('buckets' in spec) t.deepEqual(m.upperBounds, [...spec.buckets], spec.name);
  }
});

test('every label value the docs list belongs to a label the metric has', (t) => {
  for (const spec of Object.values(METRICS)) {
    if (!('values' in spec)) continue;
    for (const label of Object.keys(spec.values))
      t.true((spec.labels as readonly string[]).includes(label), `${spec.name}: ${label}`);
  }
});
