// Changes without restart, through the real API server: two replicas read one config file;
// switching a rule enforce → warn → enforce takes effect within seconds while other
// creates run, none of which fails. A change that cannot apply live is refused and the
// running configuration keeps serving.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import { kubectl } from '../harness/integration-env.js';
import { workflowExecution } from '../harness/objects.js';
import { ReplicaSet, scopedNamespace } from '../harness/replicas.js';
import { sleep } from '../harness/wait.js';

const SCOPE = 'reload';
const NS = 'reload-prod';

test('enforce → warn → enforce while creates run: each switch applies within seconds, no other create fails; a start-only change is refused', async (t) => {
  const config = join(await mkdtemp(join(tmpdir(), 'lg-reload-')), 'config.json');
  const write = (mode: string, extra: Record<string, unknown> = {}) =>
    writeFile(
      config,
      JSON.stringify({
        includeDefaultRules: false,
        rules: [{ ...DEFAULT_RULES[0], mode }, DEFAULT_RULES[1]],
        ...extra,
      }),
    );
  await write('enforce');
  const replicas = await ReplicaSet.start({ scope: SCOPE, count: 2, env: { LEASEGUARD_CONFIG: config } });
  t.teardown(() => replicas.stop());
  t.teardown(() => kubectl(['delete', 'workflowexecutions', '--all', '-n', NS, '--wait=false']));
  await scopedNamespace(SCOPE, NS);
  const target = `${NS}/Deployment/api`;
  let n = 0;
  const create = (key: string) =>
    kubectl(['create', '-f', '-'], {
      identity: 'controller',
      input: JSON.stringify(workflowExecution(NS, `we-${n++}`, key)),
    });

  // Other creates all along: each on a key of its own, so each must be admitted.
  let running = true;
  const others = { created: 0, failed: [] as string[] };
  const background = (async () => {
    for (let i = 0; running; i++) {
      const r = await create(`${NS}/Deployment/other-${i}`);
      if (r.code === 0) others.created++;
      else others.failed.push(r.stderr);
    }
  })();
  const stopBackground = async () => {
    running = false;
    await background;
  };
  t.teardown(stopBackground);

  t.is((await create(target)).code, 0, 'the holder');
  t.not((await create(target)).code, 0, 'enforce refuses a duplicate');

  /** Seconds until a duplicate create gets `wanted` (admitted with leaseguard's warning, or refused). */
  const until = async (wanted: 'warned' | 'refused'): Promise<number> => {
    const started = Date.now();
    while (Date.now() - started < 20_000) {
      const r = await create(target);
      const warned =
        r.code === 0 &&
        /Warning: leaseguard \(warn mode for WorkflowExecution\): enforce would refuse this/.test(r.stderr);
      if ((wanted === 'warned' && warned) || (wanted === 'refused' && r.code !== 0 && /is busy/.test(r.stderr)))
        return (Date.now() - started) / 1000;
      if (wanted === 'refused' && r.code === 0)
        await kubectl(['delete', 'workflowexecution', '-n', NS, `we-${n - 1}`, '--wait=false']);
      await sleep(250);
    }
    throw new Error(`no ${wanted} create within 20 s`);
  };
  await write('warn');
  const toWarn = await until('warned');
  await write('enforce');
  const toEnforce = await until('refused');
  t.log(`enforce → warn applied within ${toWarn.toFixed(1)} s, warn → enforce within ${toEnforce.toFixed(1)} s`);
  t.true(toWarn < 10 && toEnforce < 10, 'within seconds');

  // A start-only change: refused, logged, and enforce keeps serving.
  await write('enforce', { failOpen: true });
  await sleep(4000);
  t.not((await create(target)).code, 0, 'still enforcing');
  const logs = await replicas.logs();
  t.regex(
    logs,
    /configuration change refused, the running configuration keeps serving: failOpen changed \(false → true\): it applies only at start/,
  );
  t.regex(logs, /configuration reloaded: rule kubernaut\.ai\/WorkflowExecution: mode \\"enforce\\" → \\"warn\\"/);
  await stopBackground();
  t.log(`other creates meanwhile: ${others.created}, failed ${others.failed.length}`);
  t.true(others.created > 5, 'creates ran all along');
  t.deepEqual(others.failed, [], 'no other create failed');
});
