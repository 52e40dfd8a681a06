// An interrupted bench (Ctrl-C, a CI timeout) stops what it started: every process it
// spawned (API server, etcd, replicas, no-op servers) is a direct child, found in /proc.
import { readdirSync, readFileSync } from 'node:fs';
import { sleep } from '../test/harness/wait.js';

export function childPids(parent = process.pid): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The fields after the command's closing parenthesis: state, then the parent's pid.
      const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]);
      if (ppid === parent) pids.push(Number(entry));
    } catch {
      // gone while listing
    }
  }
  return pids;
}

/** SIGTERM to every child, SIGKILL to any still there after `graceMs`. */
export async function stopChildren(graceMs = 5000): Promise<number> {
  const pids = childPids();
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };
  pids.forEach((pid) => signal(pid, 'SIGTERM'));
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && childPids().some((p) => pids.includes(p))) await sleep(100);
  childPids()
    .filter((p) => pids.includes(p))
    .forEach((pid) => signal(pid, 'SIGKILL'));
  return pids.length;
}

/**
 * On SIGINT or SIGTERM: stop every child, run the cleanups registered with `also` (the
 * control plane's directory, its etcd data), then exit with the signal's code.
 */
export function stopChildrenOnSignal(log: (s: string) => void): { also: (cleanup: () => Promise<void>) => void } {
  const cleanups: Array<() => Promise<void>> = [];
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)
    process.once(sig, () => {
      log(`${sig}: stopping the processes this bench started`);
      void stopChildren()
        .then(async (n) => {
          log(`stopped ${n} process(es)`);
          for (const cleanup of cleanups) await cleanup().catch((err: Error) => log(`cleanup: ${err.message}`));
        })
        .finally(() => process.exit(code));
    });
  return { also: (cleanup) => cleanups.push(cleanup) };
}
