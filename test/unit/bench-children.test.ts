// An interrupted bench stops what it started: its direct children, found in /proc.
import { spawn } from 'node:child_process';
import test from 'ava';
import { childPids, stopChildren } from '../../bench/children.js';
import { until } from '../harness/wait.js';

test('stopChildren stops every direct child, one that ignores SIGTERM by SIGKILL after the grace', async (t) => {
  const polite = spawn('sleep', ['60']);
  const stubborn = spawn('bash', ['-c', 'trap "" TERM; exec sleep 60']);
  t.teardown(() => {
    polite.kill('SIGKILL');
    stubborn.kill('SIGKILL');
  });
  const pids = [polite.pid!, stubborn.pid!];
  t.deepEqual(
    pids.filter((p) => childPids().includes(p)),
    pids,
  );
  const started = Date.now();
  t.is(await stopChildren(1000), 2);
  const exited = (c: typeof polite) =>
    c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r));
  await Promise.all([exited(polite), exited(stubborn)]);
  await until('both reaped', async () => (childPids().some((p) => pids.includes(p)) ? undefined : true), 5000);
  t.true(Date.now() - started >= 1000, 'the stubborn one outlived the grace');
  t.is(polite.signalCode, 'SIGTERM');
  t.is(stubborn.signalCode, 'SIGKILL');
});
