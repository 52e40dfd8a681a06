#!/usr/bin/env node
// kubectl-leaseguard: leaseguard as a kubectl plugin (`kubectl leaseguard ...`): an
// executable of this name on PATH is found by kubectl. The same commands as the
// leaseguard CLI's `locks` and `why`, named as an operator at a kubectl prompt says them.
import { quoted } from '../core/printable.js';
import { runCli } from './exit.js';

/** @kubernetes/client-node 2 (undici 8) needs this; older Node.js fails while loading it. */
const NODE_NEEDED = [22, 19] as const;

const USAGE = `usage: kubectl leaseguard <command> [options]

commands:
  locks                 list the locks leaseguard holds (KEY, KIND, HOLDER, REQUESTER, STATE, AGE, LEASE)
  why KIND/NAME         explain which Lease and holder block an object, since when, and what frees it
  why -f MANIFEST       the same for a create that was refused (and so never stored)
  release KEY --force   release one lock by hand (members of leaseguard:break-glass); recorded as an Event

Leases are read in --lease-namespace (default leaseguard-system). Each command's --help
lists its options. kubectl passes none of its own flags to plugins: give --kubeconfig
and --context here (or set KUBECONFIG).`;

/** kubectl's spelling of the Lease namespace flag, turned into the leaseguard CLI's. */
function leaseNamespaceFlag(args: string[]): string[] {
  return args.map((a) =>
    a === '--lease-namespace' ? '--namespace' : a.startsWith('--lease-namespace=') ? `--namespace=${a.slice(18)}` : a,
  );
}

function nodeTooOld(): boolean {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return major < NODE_NEEDED[0] || (major === NODE_NEEDED[0] && minor < NODE_NEEDED[1]);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if ((command === 'locks' || command === 'release' || command === 'why') && nodeTooOld()) {
    process.stderr.write(
      `kubectl leaseguard: needs Node.js ${NODE_NEEDED.join('.')} or newer on PATH; this is ${process.version}\n`,
    );
    return 1;
  }
  switch (command) {
    case 'locks':
      return (await import('./locks-command.js')).locksCommand(leaseNamespaceFlag(rest));
    case 'release':
      return (await import('./locks-command.js')).locksCommand(['release', ...leaseNamespaceFlag(rest)]);
    case 'why':
      return (await import('./why-command.js')).whyCommand(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`kubectl leaseguard: unknown command ${quoted(command)}\n\n${USAGE}\n`);
      return 2;
  }
}

runCli('kubectl leaseguard', () => main(process.argv.slice(2)));
