// The runner: every-replica components start in order and stop in reverse; leader-only
// ones run while the election says this replica leads, and leadership is given up after
// everything started later has stopped.
import test from 'ava';
import { pino } from 'pino';
import { Runner, type Election, type Runnable, type Runs } from '../../src/runner.js';

const logger = pino({ level: 'silent' });

function recorder() {
  const log: string[] = [];
  const component = (name: string, runs: Runs = 'every-replica', fail?: 'start' | 'stop'): Runnable => ({
    name,
    runs,
    start: async () => {
      if (fail === 'start') throw new Error(`${name} cannot start`);
      log.push(`start ${name}`);
    },
    stop: async (o) => {
      if (fail === 'stop') throw new Error(`${name} cannot stop`);
      log.push(`stop ${name}${o.immediate ? ' (immediate)' : ''}`);
    },
  });
  return { log, component };
}

/** An election the test drives: lead() and lose() as the elector would call back. */
function election(log: string[]) {
  let on: { started(): void; stopped(): void } | undefined;
  let leading = false;
  const e: Election & { lead(): void; lose(): void } = {
    start: (callbacks) => {
      on = callbacks;
      log.push('campaign');
    },
    stop: async () => {
      if (leading) e.lose();
      log.push('resign');
    },
    lead: () => {
      leading = true;
      on!.started();
    },
    lose: () => {
      leading = false;
      on!.stopped();
    },
  };
  return e;
}

const settle = () => new Promise((r) => setImmediate(r));

test('every-replica components start in order and stop in reverse, with the stop options', async (t) => {
  const { log, component } = recorder();
  const runner = new Runner({ components: [component('store'), component('watcher'), component('server')], logger });
  await runner.start();
  await runner.stop({ immediate: true });
  t.deepEqual(log, [
    'start store',
    'start watcher',
    'start server',
    'stop server (immediate)',
    'stop watcher (immediate)',
    'stop store (immediate)',
  ]);
});

test('leader-only components run while leading; leadership is given up after what started later stopped', async (t) => {
  const { log, component } = recorder();
  const e = election(log);
  const runner = new Runner({
    components: [component('events'), component('release', 'while-leading'), component('server')],
    election: e,
    logger,
  });
  await runner.start();
  t.deepEqual(log, ['start events', 'campaign', 'start server'], 'nothing leader-only runs before leadership');
  e.lead();
  await settle();
  e.lose();
  await settle();
  e.lead();
  await settle();
  await runner.stop();
  t.deepEqual(log.slice(3), [
    'start release',
    'stop release',
    'start release',
    'stop server',
    'resign',
    'stop release',
    'stop events',
  ]);
});

test('a component that cannot start stops those started, in reverse, and the start fails', async (t) => {
  const { log, component } = recorder();
  const runner = new Runner({
    components: [component('store'), component('watcher'), component('server', 'every-replica', 'start')],
    logger,
  });
  await t.throwsAsync(() => runner.start(), { message: 'server cannot start' });
  t.deepEqual(log, ['start store', 'start watcher', 'stop watcher (immediate)', 'stop store (immediate)']);
});

test('a component that cannot stop does not keep the others from stopping', async (t) => {
  const { log, component } = recorder();
  const runner = new Runner({
    components: [component('store'), component('watcher', 'every-replica', 'stop'), component('server')],
    logger,
  });
  await runner.start();
  await runner.stop();
  t.deepEqual(log.slice(3), ['stop server', 'stop store']);
});

test('an election that gives leadership up without saying so still stops the leader-only components', async (t) => {
  const { log, component } = recorder();
  const e = election(log);
  const silent: Election = { start: (on) => e.start(on), stop: async () => void log.push('resign') };
  const runner = new Runner({ components: [component('release', 'while-leading')], election: silent, logger });
  await runner.start();
  e.lead();
  await settle();
  await runner.stop();
  t.deepEqual(log, ['campaign', 'start release', 'resign', 'stop release']);
});

test('without an election this replica leads from the start', async (t) => {
  const { log, component } = recorder();
  const runner = new Runner({
    components: [component('store'), component('expiry', 'while-leading'), component('server')],
    logger,
  });
  await runner.start();
  await settle();
  await runner.stop();
  t.deepEqual(log, ['start store', 'start server', 'start expiry', 'stop server', 'stop expiry', 'stop store']);
});
