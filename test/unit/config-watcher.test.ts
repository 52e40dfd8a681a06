// The configuration file, reloaded: a live change applies, anything else is refused and
// the running configuration keeps serving.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Registry } from 'prom-client';
import { loadConfig, type Config } from '../../src/config.js';
import { ConfigWatcher } from '../../src/config-watcher.js';
import { createMetrics } from '../../src/metrics.js';
import { metricValue } from '../harness/metrics.js';
import { capturingLogger } from '../support/webhook-server.js';

test('a mode change applies; invalid YAML and a port change are refused, naming why, and the last good configuration stays', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'lg-reload-')), 'config.yaml');
  const write = (text: string) => writeFileSync(file, text);
  const rule = (mode: string) =>
    `rules: [{group: kubernaut.ai, version: v1alpha1, kind: WorkflowExecution, resource: workflowexecutions, keyPath: spec.targetResource, phasePath: status.phase, terminalPhases: [Completed, Failed], mode: ${mode}}]\n`;
  write(rule('enforce'));
  const load = () => loadConfig({ env: {}, file });
  const applied: Config[] = [];
  const logs: string[] = [];
  const registry = new Registry();
  const metrics = createMetrics(registry, { defaultMetrics: false });
  const watcher = new ConfigWatcher({
    file,
    load,
    current: load(),
    apply: (c) => applied.push(c),
    logger: capturingLogger(logs),
    metrics,
    pollMs: 60_000,
  });
  await watcher.start();
  t.teardown(() => watcher.stop());
  const mode = () => applied.at(-1)?.rules.find((r) => r.kind === 'WorkflowExecution')?.mode;
  write(rule('warn'));
  await watcher.check();
  t.is(mode(), 'warn');
  t.true(
    logs.some((l) =>
      l.includes('configuration reloaded: rule kubernaut.ai/WorkflowExecution: mode \\"enforce\\" → \\"warn\\"'),
    ),
  );

  write('rules: [unclosed\n');
  await watcher.check();
  t.is(applied.length, 1, 'invalid YAML applies nothing');
  write(`${rule('enforce')}admissionPort: 9443\n`);
  await watcher.check();
  t.is(applied.length, 1, 'a port change applies nothing');
  const refusals = logs.filter((l) => l.includes('configuration change refused'));
  t.is(refusals.length, 2);
  t.regex(refusals[1]!, /admissionPort changed \(8443 → 9443\): it applies only at start/);

  write(rule('enforce'));
  await watcher.check();
  t.is(mode(), 'enforce', 'back to enforce, from the last good configuration');
  const page = await registry.metrics();
  t.is(metricValue(page, 'leaseguard_config_reloads_total', { result: 'applied' }), 2);
  t.is(metricValue(page, 'leaseguard_config_reloads_total', { result: 'refused' }), 2);
});
