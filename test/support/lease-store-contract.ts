// One contract for every LeaseStore: the in-process store runs it in unit tests, the
// Kubernetes store against the real API server in the integration suite.
import { randomBytes } from 'node:crypto';
import type { TestFn } from 'ava';
import {
  LEASE_FORMATS,
  bindAtVersionPatch,
  encodeLease,
  decodeRecord,
  type LeaseFormat,
  type LockRecord,
} from '../../src/core/lock-record.js';
import { ErrorCodes, hasCode, type ErrorCode } from '../../src/errors.js';
import type { LeaseStore } from '../../src/store/lease-store.js';

function record(name: string, over: Partial<LockRecord> = {}): LockRecord {
  return {
    key: `key/${name}`,
    object: { group: 'kubernaut.ai', kind: 'WorkflowExecution', namespace: 'prod', name, uid: `uid-${name}` },
    requester: { username: 'system:serviceaccount:kubernaut-system:ro', pod: 'ro-1' },
    state: 'pending',
    acquiredAt: new Date('2026-11-22T12:00:00.123Z'),
    renewedAt: new Date('2026-11-22T12:00:00.123Z'),
    transitions: 0,
    ...over,
  };
}

export function leaseStoreContract(test: TestFn, label: string, store: () => LeaseStore): void {
  const fresh = () => `contract-${randomBytes(6).toString('hex')}`;
  const lease = (
    s: LeaseStore,
    name: string,
    over: Partial<LockRecord> = {},
    resourceVersion?: string,
    format?: LeaseFormat,
  ) =>
    encodeLease(record(name, over), {
      name,
      namespace: s.namespace,
      pendingTimeoutSeconds: 30,
      ...(resourceVersion ? { resourceVersion } : {}),
      ...(format ? { format } : {}),
    });
  const rejectsWith = async (t: import('ava').ExecutionContext, p: Promise<unknown>, code: ErrorCode) => {
    const err = await t.throwsAsync(p);
    t.true(hasCode(err, code), `expected ${code}, got ${(err as { code?: string })?.code}: ${err?.message}`);
  };

  test(`${label}: get of a missing Lease is null`, async (t) => {
    t.is(await store().get(fresh()), null);
  });

  test(`${label}: create stores the record and assigns uid and resourceVersion`, async (t) => {
    const s = store();
    const name = fresh();
    const created = await s.create(lease(s, name));
    t.truthy(created.metadata?.uid);
    t.truthy(created.metadata?.resourceVersion);
    const got = await s.get(name);
    t.truthy(got);
    t.is(got?.metadata?.resourceVersion, created.metadata?.resourceVersion);
    t.deepEqual(decodeRecord(got!), record(name));
  });

  test(`${label}: a second create of the same name is AlreadyExists`, async (t) => {
    const s = store();
    const name = fresh();
    await s.create(lease(s, name));
    await rejectsWith(t, s.create(lease(s, name)), ErrorCodes.STORE_ALREADY_EXISTS);
  });

  test(`${label}: replace succeeds with the current resourceVersion, then that version is stale`, async (t) => {
    const s = store();
    const name = fresh();
    const v1 = (await s.create(lease(s, name))).metadata?.resourceVersion as string;
    const v2 = await s.replace(lease(s, name, { state: 'bound' }, v1));
    t.not(v2.metadata?.resourceVersion, v1);
    t.is(decodeRecord((await s.get(name))!)?.state, 'bound');
    await rejectsWith(t, s.replace(lease(s, name, { state: 'pending' }, v1)), ErrorCodes.STORE_CONFLICT);
    t.is(decodeRecord((await s.get(name))!)?.state, 'bound', 'the stale write changed nothing');
  });

  test(`${label}: replace of a missing Lease creates it (as the API server does); without resourceVersion it is refused`, async (t) => {
    const s = store();
    const missing = fresh();
    const created = await s.replace(lease(s, missing, {}, '1'));
    t.truthy(created.metadata?.uid);
    t.deepEqual(decodeRecord((await s.get(missing))!), record(missing));
    const name = fresh();
    await s.create(lease(s, name));
    await rejectsWith(t, s.replace(lease(s, name)), ErrorCodes.STORE_INVALID);
  });

  test(`${label}: delete honours uid and resourceVersion preconditions`, async (t) => {
    const s = store();
    const name = fresh();
    const created = await s.create(lease(s, name));
    const uid = created.metadata?.uid as string;
    const rv = created.metadata?.resourceVersion as string;
    await rejectsWith(t, s.delete(name, { uid: 'not-the-uid' }), ErrorCodes.STORE_CONFLICT);
    const updated = await s.replace(lease(s, name, { state: 'bound' }, rv));
    await rejectsWith(t, s.delete(name, { uid, resourceVersion: rv }), ErrorCodes.STORE_CONFLICT);
    t.truthy(await s.get(name), 'still there after failed preconditions');
    await s.delete(name, { uid, resourceVersion: updated.metadata?.resourceVersion });
    t.is(await s.get(name), null);
    await rejectsWith(t, s.delete(name, {}), ErrorCodes.STORE_NOT_FOUND);
  });

  test(`${label}: list filters by label selector`, async (t) => {
    const s = store();
    const a = fresh();
    const b = fresh();
    // Format 1 labels the state (format 2 packs it).
    await s.create(lease(s, a, { state: 'pending' }, undefined, 1));
    await s.create(lease(s, b, { state: 'bound' }, undefined, 1));
    const bound = (await s.list('app.kubernetes.io/managed-by=leaseguard,leaseguard.kubernaut.ai/state=bound')).map(
      (l) => l.metadata?.name,
    );
    t.true(bound.includes(b));
    t.false(bound.includes(a));
    const all = (await s.list('app.kubernetes.io/managed-by=leaseguard')).map((l) => l.metadata?.name);
    t.true(all.includes(a) && all.includes(b));
  });

  test(`${label}: of 20 concurrent creates of one name exactly one wins`, async (t) => {
    const s = store();
    const name = fresh();
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        s.create(lease(s, name, { object: { ...record(name).object, uid: `u${i}` } })),
      ),
    );
    t.is(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') t.true(hasCode(r.reason, ErrorCodes.STORE_ALREADY_EXISTS));
  });

  test(`${label}: of 20 concurrent replaces from one version exactly one wins`, async (t) => {
    const s = store();
    const name = fresh();
    const rv = (await s.create(lease(s, name))).metadata?.resourceVersion as string;
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        s.replace(lease(s, name, { object: { ...record(name).object, uid: `u${i}` } }, rv)),
      ),
    );
    t.is(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') t.true(hasCode(r.reason, ErrorCodes.STORE_CONFLICT));
  });

  for (const format of LEASE_FORMATS)
    test(`${label}: format ${format}: a bind at a version applies to that version only, re-binds a bound Lease, and never recreates one`, async (t) => {
      const s = store();
      const name = fresh();
      const v1 = (await s.create(lease(s, name, {}, undefined, format))).metadata?.resourceVersion as string;
      const now = new Date('2026-11-22T12:00:07.25Z');
      const bound: LockRecord = {
        ...record(name),
        state: 'bound',
        object: { ...record(name).object, uid: 'uid-1' },
        renewedAt: now,
      };
      const v2 = (await s.patch(name, bindAtVersionPatch(bound, v1, format))).metadata?.resourceVersion as string;
      t.deepEqual(decodeRecord((await s.get(name))!), bound);
      // The version it was decided on is gone: a conflict, and nothing changes.
      await rejectsWith(
        t,
        s.patch(name, bindAtVersionPatch({ ...bound, object: { ...bound.object, uid: 'uid-stale' } }, v1, format)),
        ErrorCodes.STORE_CONFLICT,
      );
      t.is((await s.get(name))?.metadata?.resourceVersion, v2);
      // Bound already, to an object since recreated under the same name: re-bound to the new UID.
      const rebound = { ...bound, object: { ...bound.object, uid: 'uid-2' } };
      await s.patch(name, bindAtVersionPatch(rebound, v2, format));
      t.deepEqual(decodeRecord((await s.get(name))!), rebound);
      // Released meanwhile: not found, and the Lease stays deleted (an update would recreate it).
      const current = (await s.get(name))!;
      await s.delete(name, { uid: current.metadata?.uid });
      await rejectsWith(
        t,
        s.patch(name, bindAtVersionPatch(rebound, current.metadata?.resourceVersion as string, format)),
        ErrorCodes.STORE_NOT_FOUND,
      );
      t.is(await s.get(name), null);
    });
}
