// The Lease formats: format 1 as the previous release wrote it (fixtures read back from a
// real API server), format 2 written and read, a later format refused, table by table.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Lease } from '@kubernetes/client-node';
import {
  LEASE_FORMATS,
  LOCK_ANNOTATION,
  bindAtVersionPatch,
  decodeLease,
  decodeRecord,
  encodeLease,
  leaseFormatOf,
  type LeaseFormat,
  type LockRecord,
} from '../../src/core/lock-record.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import { loadConfig } from '../../src/config.js';
import { ErrorCodes, hasCode } from '../../src/errors.js';
import { LockService } from '../../src/lock/lock-service.js';
import { unverifiableHolders } from '../../src/store/holder-reader.js';
import { MemoryLeaseStore } from '../../src/store/memory-lease-store.js';
import { ROOT } from '../harness/paths.js';

/** Leases the previous release (commit bdb4da1, format 1) wrote, read back with kubectl from a real API server. */
const fixture = (name: string): V1Lease => JSON.parse(readFileSync(join(ROOT, 'test/fixtures/leases', name), 'utf8'));

const base: LockRecord = {
  key: 'kubernaut-system/Deployment/payments/api-server',
  object: {
    group: 'kubernaut.ai',
    kind: 'WorkflowExecution',
    namespace: 'kubernaut-system',
    name: 'we-1',
    uid: 'uid-1',
  },
  requester: { username: 'system:serviceaccount:kubernaut-system:remediationorchestrator', pod: 'ro-7d9f' },
  state: 'pending',
  acquiredAt: new Date('2026-12-05T11:33:39.123Z'),
  renewedAt: new Date('2026-12-05T11:33:39.123Z'),
  transitions: 0,
};
const opts = (format: LeaseFormat) => ({ name: 'n', namespace: 'lg', pendingTimeoutSeconds: 60, format });
/** Through JSON, as the API server answers. */
const wire = (lease: V1Lease): any => JSON.parse(JSON.stringify(lease));

const previousRelease: Array<[string, string, LockRecord]> = [
  [
    'a pending Lease',
    'format-1-pending.json',
    {
      key: 'kubernaut-system/Deployment/payments/api-server',
      object: {
        group: 'kubernaut.ai',
        kind: 'WorkflowExecution',
        namespace: 'kubernaut-system',
        name: 'we-payments-api-server-1',
        uid: 'a3f1c2d4-5b6e-4f70-8a9b-0c1d2e3f4a5b',
      },
      requester: {
        username: 'system:serviceaccount:kubernaut-system:remediationorchestrator',
        pod: 'remediationorchestrator-7d9f8b6c5-x2x4k',
      },
      state: 'pending',
      acquiredAt: new Date('2026-12-05T11:33:39.583Z'),
      renewedAt: new Date('2026-12-05T11:33:39.583Z'),
      transitions: 0,
    },
  ],
  [
    'a Lease taken over (replaced)',
    'format-1-taken-over.json',
    {
      key: 'kubernaut-system/Deployment/payments/api-server',
      object: {
        group: 'kubernaut.ai',
        kind: 'WorkflowExecution',
        namespace: 'kubernaut-system',
        name: 'we-payments-api-server-2',
        uid: 'b3f1c2d4-5b6e-4f70-8a9b-0c1d2e3f4a5c',
      },
      requester: {
        username: 'system:serviceaccount:kubernaut-system:remediationorchestrator',
        pod: 'remediationorchestrator-7d9f8b6c5-x2x4k',
      },
      state: 'pending',
      acquiredAt: new Date('2026-12-05T11:33:39.734Z'),
      renewedAt: new Date('2026-12-05T11:33:39.734Z'),
      transitions: 1,
    },
  ],
];
for (const [what, file, expected] of previousRelease) {
  test(`format 1 as the previous release wrote it: ${what} is read as format 1`, (t) => {
    const lease = fixture(file);
    t.is(leaseFormatOf(lease), 1);
    const decoded = decodeLease(lease);
    t.is(decoded.format, 1);
    t.is(decoded.unsupportedFormat, undefined);
    t.deepEqual(decoded.record, expected);
  });
}

test("format 1 written today is the previous release's Lease, field for field", (t) => {
  const [, file, record] = previousRelease[0]!;
  const previous = fixture(file);
  const now = wire(
    encodeLease(record, {
      name: previous.metadata!.name!,
      namespace: previous.metadata!.namespace!,
      pendingTimeoutSeconds: 60,
      format: 1,
    }),
  );
  t.deepEqual(now.metadata.labels, previous.metadata!.labels);
  t.deepEqual(now.metadata.annotations, previous.metadata!.annotations);
  t.deepEqual(now.spec, previous.spec);
});

test("format 2 on the wire: two labels, one annotation, the Lease's own fields, nothing derivable", (t) => {
  t.deepEqual(wire(encodeLease(base, opts(2))), {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: 'n',
      namespace: 'lg',
      labels: { 'app.kubernetes.io/managed-by': 'leaseguard', 'leaseguard.kubernaut.ai/kind': 'workflowexecution' },
      annotations: {
        'leaseguard.kubernaut.ai/lock':
          '{"v":2,"key":"kubernaut-system/Deployment/payments/api-server","group":"kubernaut.ai","kind":"WorkflowExecution","ns":"kubernaut-system","name":"we-1","uid":"uid-1","pod":"ro-7d9f"}',
      },
    },
    spec: {
      holderIdentity: 'system:serviceaccount:kubernaut-system:remediationorchestrator',
      acquireTime: '2026-12-05T11:33:39.123000Z',
    },
  });
  t.is(
    encodeLease(base, { name: 'n', namespace: 'lg', pendingTimeoutSeconds: 60 }).metadata?.annotations?.[
      LOCK_ANNOTATION
    ] !== undefined,
    true,
    'format 2 is the default',
  );
});

// Every shape a record takes, in every format: what is written is what is read.
const records: Array<[string, LockRecord]> = [
  ['pending, with a pod', base],
  ['bound', { ...base, state: 'bound' }],
  [
    'cluster-scoped, no pod, no UID',
    { ...base, object: { ...base.object, namespace: '', uid: '' }, requester: { username: 'u' } },
  ],
  [
    'renewed after it was acquired, taken over 3 times',
    { ...base, renewedAt: new Date('2026-12-05T11:40:00.5Z'), transitions: 3 },
  ],
  [
    'the core group, an empty requester',
    { ...base, object: { ...base.object, group: '' }, requester: { username: '', pod: 'p' } },
  ],
  ['a key with quotes, a backslash and non-ASCII', { ...base, key: 'ns/"a\\b"/ünï/✓' }],
];
for (const format of LEASE_FORMATS) {
  for (const [what, record] of records) {
    test(`format ${format} round trip: ${what}`, (t) => {
      const lease = wire(encodeLease(record, opts(format)));
      t.is(leaseFormatOf(lease), format);
      const decoded = decodeLease(lease);
      t.deepEqual(decoded.record, record);
      t.is(decoded.format, format);
    });
  }
  test(`format ${format}: a bind patch writes the same format, and what it writes reads back bound`, async (t) => {
    const store = new MemoryLeaseStore('lg');
    const created = await store.create(encodeLease({ ...base, object: { ...base.object, uid: '' } }, opts(format)));
    const bound: LockRecord = { ...base, state: 'bound', renewedAt: new Date('2026-12-05T11:34:00Z') };
    const patched = await store.patch('n', bindAtVersionPatch(bound, created.metadata!.resourceVersion!, format));
    t.is(leaseFormatOf(patched), format);
    t.deepEqual(decodeRecord(patched), bound);
  });
}

test('format 2 is smaller than format 1 on the wire', (t) => {
  const size = (f: LeaseFormat) => JSON.stringify(encodeLease(base, opts(f))).length;
  t.true(size(2) < size(1) * 0.7, `format 1 ${size(1)} bytes, format 2 ${size(2)}`);
});

// A later release's format: this one cannot know what it says, so it is no lock and a
// declared unsupported format; an unreadable annotation is merely no lock (as today's
// edited or malformed Leases are).
const lockValue = (l: any, value: unknown) =>
  (l.metadata.annotations[LOCK_ANNOTATION] = typeof value === 'string' ? value : JSON.stringify(value));
const declared: Array<[string, unknown, number | undefined]> = [
  ['format 3', { v: 3, something: 'else' }, 3],
  [
    'format 3 with every format-2 member',
    { ...JSON.parse('{"v":2,"key":"k","group":"g","kind":"K","name":"n"}'), v: 3 },
    3,
  ],
  ['format 0', { v: 0 }, 0],
  ['format 2.5', { v: 2.5 }, 2.5],
  ['a version that is a string', { v: '2', key: 'k' }, undefined],
  ['no version', { key: 'k', group: 'g', kind: 'K', name: 'n' }, undefined],
  ['not JSON', '{v:2', undefined],
  ['a JSON array', [2, 'k'], undefined],
  ['JSON null', 'null', undefined],
];
for (const [what, value, unsupported] of declared) {
  test(`a managed Lease declaring ${what}: no lock${unsupported === undefined ? '' : ', an unsupported format'}`, (t) => {
    const lease = wire(encodeLease(base, opts(2)));
    lockValue(lease, value);
    const decoded = decodeLease(lease);
    t.is(decoded.record, undefined);
    t.is(decoded.unsupportedFormat, unsupported);
    // Only leaseguard's own Leases declare its formats.
    delete lease.metadata.labels['app.kubernetes.io/managed-by'];
    t.is(decodeLease(lease).unsupportedFormat, undefined);
  });
}

// Format 2 Leases that lack a member or carry one of the wrong type: no lock.
const broken: Array<[string, (l: any) => void]> = [
  ['no key', (l) => lockValue(l, { v: 2, group: 'g', kind: 'K', name: 'n' })],
  ['an empty key', (l) => lockValue(l, { v: 2, key: '', group: 'g', kind: 'K', name: 'n' })],
  ['no group', (l) => lockValue(l, { v: 2, key: 'k', kind: 'K', name: 'n' })],
  ['an empty kind', (l) => lockValue(l, { v: 2, key: 'k', group: 'g', kind: '', name: 'n' })],
  ['no name', (l) => lockValue(l, { v: 2, key: 'k', group: 'g', kind: 'K' })],
  ['a namespace that is a number', (l) => lockValue(l, { v: 2, key: 'k', group: 'g', kind: 'K', name: 'n', ns: 1 })],
  ['a UID that is null', (l) => lockValue(l, { v: 2, key: 'k', group: 'g', kind: 'K', name: 'n', uid: null })],
  ['a pod that is an object', (l) => lockValue(l, { v: 2, key: 'k', group: 'g', kind: 'K', name: 'n', pod: {} })],
  ['bound: false', (l) => lockValue(l, { v: 2, key: 'k', group: 'g', kind: 'K', name: 'n', bound: false })],
  ['no holderIdentity', (l) => delete l.spec.holderIdentity],
  ['no acquire time', (l) => delete l.spec.acquireTime],
  ['no managed-by label', (l) => delete l.metadata.labels['app.kubernetes.io/managed-by']],
];
for (const [what, mutate] of broken) {
  test(`a format 2 Lease with ${what} is no lock`, (t) => {
    const lease = wire(encodeLease(base, opts(2)));
    t.truthy(decodeRecord(lease), 'readable before the change');
    mutate(lease);
    t.is(decodeRecord(lease), undefined);
    t.is(decodeLease(lease).unsupportedFormat, undefined);
  });
}

const rule = DEFAULT_RULES[0]!;
const request = (name: string) => ({
  key: 'prod/Deployment/api',
  object: { group: rule.group, kind: rule.kind, namespace: 'prod', name, uid: `uid-${name}` },
  requester: { username: 'ro' },
});

test('a key whose Lease is in a later format fails closed with LG_LEASE_FORMAT_UNSUPPORTED, dry run or not', async (t) => {
  const store = new MemoryLeaseStore('lg');
  const locks = new LockService({ store, holders: unverifiableHolders, pendingTimeoutSeconds: 30 });
  const first = await locks.acquire(rule, request('we-1'), { dryRun: false });
  const lease = (await store.get(first.lease))!;
  await store.patch(first.lease, [
    { op: 'replace', path: `/metadata/annotations/${LOCK_ANNOTATION.replace('/', '~1')}`, value: '{"v":3}' },
  ]);
  for (const dryRun of [false, true]) {
    const err = await t.throwsAsync(locks.acquire(rule, request('we-2'), { dryRun }));
    t.true(hasCode(err, ErrorCodes.LEASE_FORMAT_UNSUPPORTED), String(err));
    t.regex(err.message, /format 3/);
  }
  t.is((await store.get(first.lease))?.metadata?.uid, lease.metadata?.uid, 'the Lease is left alone');
});

for (const [writes, reads] of [
  [1, 2],
  [2, 1],
] as const) {
  test(`a format ${writes} writer takes over a format ${reads} Lease and writes format ${writes}`, async (t) => {
    const store = new MemoryLeaseStore('lg');
    const old = new LockService({ store, holders: unverifiableHolders, pendingTimeoutSeconds: 1, leaseFormat: reads });
    const held = await old.acquire(rule, request('we-1'), { dryRun: false });
    t.is(leaseFormatOf((await store.get(held.lease))!), reads);
    const now = new LockService({
      store,
      holders: { read: async () => ({ kind: 'gone' }) },
      pendingTimeoutSeconds: 1,
      leaseFormat: writes,
    });
    t.like(
      await now.acquire(rule, request('we-2'), { dryRun: false }),
      { verdict: 'busy' },
      'read across formats: held',
    );
    await new Promise((r) => setTimeout(r, 1100));
    t.like(await now.acquire(rule, request('we-2'), { dryRun: false }), { verdict: 'allowed', how: 'taken-over' });
    const after = (await store.get(held.lease))!;
    t.is(leaseFormatOf(after), writes);
    t.like(decodeRecord(after), { object: { name: 'we-2' }, transitions: 1 });
  });
}

test('by default a replica writes format 1, the one earlier releases read; 2 is a setting', (t) => {
  // A plain rolling upgrade from an earlier release must not meet Leases that release cannot read.
  t.is(loadConfig({ env: {} }).leaseFormat, 1);
  t.is(loadConfig({ env: { LEASEGUARD_LEASE_FORMAT: '2' } }).leaseFormat, 2);
  t.throws(() => loadConfig({ env: { LEASEGUARD_LEASE_FORMAT: '3' } }), {
    message: /leaseFormat|LEASEGUARD_LEASE_FORMAT/,
  });
});
