// warn mode through the real API server and the real kubectl: the duplicate is stored,
// kubectl prints leaseguard's warning, and enforce after it refuses the next one.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import { kubectl } from '../harness/integration-env.js';
import { workflowExecution } from '../harness/objects.js';
import { ReplicaSet, scopedNamespace } from '../harness/replicas.js';

const SCOPE = 'rollout';
const NS = 'rollout-prod';

test('warn mode: kubectl prints the warning and the duplicate is stored; switched to enforce, the lock taken in warn mode refuses the next', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lg-rollout-'));
  const config = join(dir, 'config.json');
  const rules = (mode: string) => ({
    includeDefaultRules: false,
    rules: [{ ...DEFAULT_RULES[0], mode }, DEFAULT_RULES[1]],
  });
  await writeFile(config, JSON.stringify(rules('warn')));
  // The duplicate warn mode stored: other files' leaders would count it.
  t.teardown(() => kubectl(['delete', 'workflowexecutions', '--all', '-n', NS, '--wait=false']));
  const warn = await ReplicaSet.start({ scope: SCOPE, count: 1, env: { LEASEGUARD_CONFIG: config } });
  t.teardown(() => warn.stop());
  await scopedNamespace(SCOPE, NS);
  const target = `${NS}/Deployment/api`;
  const create = (name: string) =>
    kubectl(['create', '-f', '-'], {
      identity: 'controller',
      input: JSON.stringify(workflowExecution(NS, name, target)),
    });
  const first = await create('we-1');
  t.is(first.code, 0, first.stderr);
  t.notRegex(first.stderr, /Warning/);
  const dup = await create('we-2');
  t.is(dup.code, 0, dup.stderr);
  t.regex(
    dup.stderr,
    /Warning: leaseguard \(warn mode for WorkflowExecution\): enforce would refuse this: target "rollout-prod\/Deployment\/api" is busy: held by workflowexecution rollout-prod\/we-1/,
  );
  t.is(
    (await kubectl(['-n', NS, 'get', 'workflowexecutions', '-o', 'name'])).stdout.trim().split('\n').length,
    2,
    'the duplicate was stored',
  );

  await warn.stop();
  await writeFile(config, JSON.stringify(rules('enforce')));
  const enforce = await ReplicaSet.start({ scope: SCOPE, count: 1, env: { LEASEGUARD_CONFIG: config } });
  t.teardown(() => enforce.stop());
  const refused = await create('we-3');
  t.not(refused.code, 0);
  t.regex(
    refused.stderr,
    /denied the request: target "rollout-prod\/Deployment\/api" is busy: held by workflowexecution rollout-prod\/we-1/,
  );
});
