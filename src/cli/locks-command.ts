import { createInterface } from 'node:readline/promises';
import { pino } from 'pino';
import { formatAge, holderPhrase } from '../admission/messages.js';
import { loadConfig } from '../config.js';
import { MANAGED_SELECTOR, decodeLease, objectLabel, type LockLease, type LockRecord } from '../core/lock-record.js';
import { indexRules, keyNamesLock, type RuleIndex } from '../core/rules.js';
import { ErrorCodes, hasCode, usageError, commandFailed } from '../errors.js';
import { printable, quoted, safeJson } from '../core/printable.js';
import { openStore } from '../store/open-store.js';
import type { LeaseStore } from '../store/lease-store.js';
import { hostname } from 'node:os';
import { leaseSubject } from '../admission/decision-events.js';
import { EventReasons, eventBody, eventName } from '../kube/event-recorder.js';
import type { KubeClients } from '../kube/kube-client.js';
import { defineCommand } from './command.js';

const HELP = `usage: leaseguard locks [options]
       leaseguard locks release KEY --force [--kind KIND] [--yes]

Lists the current locks (the Leases leaseguard manages), or releases one by hand.

  -o, --output FORMAT   table (default) or json
  --kubeconfig FILE     kubeconfig (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)
  --context NAME        the kubeconfig context to use (default: its current context)
  --namespace NS        namespace of the Leases (default: config leaseNamespace)
  --config FILE         leaseguard configuration file
  --kind KIND           with release: the guarded kind, when several share the key
  --force               with release: required; a forced release can admit a duplicate
                        while the holder still runs
  --yes                 with release: do not ask for confirmation
`;

interface Row {
  key: string;
  kind: string;
  holder: string;
  holderUid: string;
  requester: string;
  state: string;
  age: string;
  acquiredAt: string;
  lease: string;
}

type Held = LockLease & { record: LockRecord };

function row(lease: Held, namespace: string, now: number): Row {
  const r = lease.record;
  return {
    key: r.key,
    kind: r.object.kind,
    holder: objectLabel(r.object),
    holderUid: r.object.uid,
    requester: r.requester.pod ? `${r.requester.username} (pod ${r.requester.pod})` : r.requester.username,
    state: r.state,
    age: formatAge(now - r.acquiredAt.getTime()),
    acquiredAt: r.acquiredAt.toISOString(),
    lease: `${namespace}/${lease.name}`,
  };
}

/** Every cell a person reads, with control characters escaped (keys and names come from objects and requests). */
export function table(rows: Row[]): string {
  const cols: Array<[string, keyof Row]> = [
    ['KEY', 'key'],
    ['KIND', 'kind'],
    ['HOLDER', 'holder'],
    ['REQUESTER', 'requester'],
    ['STATE', 'state'],
    ['AGE', 'age'],
    ['LEASE', 'lease'],
  ];
  const line = (cells: string[], width: number[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(width[i] ?? 0))).join('   ');
  const shown = rows.map(
    (r) => Object.fromEntries(cols.map(([, k]) => [k, printable(r[k])])) as Record<keyof Row, string>,
  );
  const width = cols.map(([h, k]) => Math.max(h.length, ...shown.map((r) => r[k].length)));
  return [
    line(
      cols.map(([h]) => h),
      width,
    ),
    ...shown.map((r) =>
      line(
        cols.map(([, k]) => r[k]),
        width,
      ),
    ),
  ].join('\n');
}

async function held(store: LeaseStore): Promise<Held[]> {
  const leases = (await store.list(MANAGED_SELECTOR, AbortSignal.timeout(30_000))).map(decodeLease);
  return leases
    .filter((l): l is Held => l.record !== undefined)
    .sort((a, b) => a.record.key.localeCompare(b.record.key));
}

export const locksCommand = defineCommand({
  help: HELP,
  positionals: true,
  options: {
    output: { type: 'string', short: 'o', default: 'table' },
    kubeconfig: { type: 'string' },
    context: { type: 'string' },
    namespace: { type: 'string' },
    config: { type: 'string' },
    kind: { type: 'string' },
    force: { type: 'boolean', default: false },
    yes: { type: 'boolean', short: 'y', default: false },
  },
  async run({ values, positionals }) {
    const [sub, key, ...extra] = positionals;
    if ((sub !== undefined && sub !== 'release') || extra.length > 0 || (sub === 'release' && !key)) {
      throw usageError("expected no arguments or 'release KEY'; see --help");
    }
    if (values.output !== 'table' && values.output !== 'json') {
      throw usageError(`--output must be table or json, got ${values.output}`);
    }
    const config = loadConfig({
      ...(values.config ? { file: values.config } : {}),
      overrides: {
        store: 'kubernetes',
        ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
        ...(values.namespace ? { leaseNamespace: values.namespace } : {}),
      },
    });
    const opened = await openStore(
      { ...config, ...(values.context ? { kubeContext: values.context } : {}) },
      pino({ level: 'silent' }),
      () => {},
    );
    try {
      const locks = await held(opened.store);
      if (sub === undefined) {
        const now = Date.now();
        const rows = locks.map((l) => row(l, opened.store.namespace, now));
        if (values.output === 'json') process.stdout.write(`${safeJson(rows, 2)}\n`);
        else if (rows.length === 0) process.stdout.write(`No locks held in namespace ${opened.store.namespace}.\n`);
        else process.stdout.write(`${table(rows)}\n`);
        return 0;
      }
      return await release(opened.store, opened.clients, locks, key as string, {
        ...values,
        rules: indexRules(config.rules),
      });
    } finally {
      opened.close();
    }
  },
});

/** Who the kubeconfig's credentials are, as the API server sees them (SelfSubjectReview). */
async function whoAmI(clients: KubeClients): Promise<string> {
  try {
    const review = (await clients.json(
      'POST',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'SelfSubjectReview',
      },
      AbortSignal.timeout(10_000),
    )) as { status?: { userInfo?: { username?: string } } };
    return review.status?.userInfo?.username || 'an unknown user';
  } catch {
    return 'an unknown user';
  }
}

/**
 * The release as a Warning Event about the Lease, where the holder's other Events are: a
 * forced release can admit a duplicate, so it should be seen. Failing to write it does
 * not undo the release; it is said.
 */
async function recordRelease(clients: KubeClients, lock: Held, namespace: string): Promise<void> {
  const who = await whoAmI(clients);
  const regarding = leaseSubject(`${namespace}/${lock.name}`, lock.uid);
  if (!regarding) return;
  const now = new Date().toISOString();
  const event = {
    regarding,
    type: 'Warning' as const,
    reason: EventReasons.releasedByHand,
    message:
      `lock ${JSON.stringify(printable(lock.record.key))} released by hand by ${printable(who)}: it was held by ${holderPhrase(lock.record)}; ` +
      'the next create for this key is admitted even if that object still runs',
  };
  try {
    await clients.core.createNamespacedEvent({
      namespace,
      body: eventBody(event, {
        name: eventName(lock.name, Date.now()),
        namespace,
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
        instance: hostname(),
        component: 'leaseguard-cli',
      }),
    });
  } catch (err) {
    process.stderr.write(
      `leaseguard locks: the release was not recorded as an Event (${(err as Error).message.slice(0, 200)}); ` +
        `the break-glass Role grants create on events in ${namespace} (manifests/base/rbac.yaml)\n`,
    );
  }
}

async function release(
  store: LeaseStore,
  clients: KubeClients | undefined,
  locks: Held[],
  key: string,
  o: { kind?: string; force: boolean; yes: boolean; rules: RuleIndex },
): Promise<number> {
  // A key as typed or as its rule compares it (prod/Deployment/api names prod/deployment/api under normalize).
  const names = (l: Held) => keyNamesLock(o.rules.find(l.record.object.group, l.record.object.kind), key, l.record.key);
  const matches = locks.filter(
    (l) => names(l) && (!o.kind || l.record.object.kind.toLowerCase() === o.kind.toLowerCase()),
  );
  if (matches.length === 0) {
    throw commandFailed(
      `no lock with key ${quoted(key)}${o.kind ? ` for kind ${quoted(o.kind)}` : ''} in ${store.namespace}; list them with 'leaseguard locks'`,
    );
  }
  if (matches.length > 1) {
    throw usageError(
      `key ${quoted(key)} is held for several kinds (${matches.map((m) => printable(m.record.object.kind)).join(', ')}); pass --kind`,
    );
  }
  const lock = matches[0] as Held;
  const r = lock.record;
  process.stdout.write(
    `Lock ${quoted(key)} is held by ${printable(r.object.kind.toLowerCase())} ${printable(objectLabel(r.object))} ` +
      `(requested by ${printable(r.requester.username)}${r.requester.pod ? ` on pod ${printable(r.requester.pod)}` : ''}, ${formatAge(Date.now() - r.acquiredAt.getTime())} ago, ${r.state}); Lease ${store.namespace}/${lock.name}.\n` +
      'Releasing it lets the next CREATE for this key through even if the holder is still running.\n',
  );
  if (!o.force) {
    throw commandFailed('refusing without --force');
  }
  if (!o.yes) {
    if (!process.stdin.isTTY) {
      throw commandFailed('no terminal to confirm on; pass --yes to release without asking');
    }
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    const answer = await rl.question('Release it? [y/N] ');
    rl.close();
    if (!/^y(es)?$/i.test(answer.trim())) {
      process.stdout.write('Not released.\n');
      return 1;
    }
  }
  try {
    // Preconditions: if the lock changed hands since it was shown, do not release the new one.
    await store.delete(
      lock.name,
      { uid: lock.uid, resourceVersion: lock.resourceVersion },
      AbortSignal.timeout(30_000),
    );
  } catch (err) {
    if (hasCode(err, ErrorCodes.STORE_CONFLICT)) {
      throw commandFailed(
        'the lock changed since it was read (a new holder or a release); nothing was released. Run the command again.',
      );
    }
    if (hasCode(err, ErrorCodes.STORE_NOT_FOUND)) {
      process.stdout.write('Already released.\n');
      return 0;
    }
    if (hasCode(err, ErrorCodes.STORE_FORBIDDEN)) {
      throw commandFailed(
        `not permitted, nothing was released: ${err.message}. Only leaseguard's service account and members of the ` +
          'leaseguard:break-glass group may delete its Leases (manifests/base/lease-guard-policy.yaml, and the leaseguard-break-glass Role); use a kubeconfig of such a member',
      );
    }
    throw err;
  }
  process.stdout.write(`Released ${quoted(key)}.\n`);
  if (clients) await recordRelease(clients, lock, store.namespace);
  return 0;
}
