// The lock service's reads: a contended key's Lease and holder read at the same time, and
// that early holder read trusted only when it is the read that would have followed.
import test from 'ava';
import type { LockRequest } from '../../src/core/decide.js';
import type { HolderState } from '../../src/core/holder.js';
import { leaseName } from '../../src/core/lease-name.js';
import { bindAtVersionPatch, decodeLease, type ObjectRef } from '../../src/core/lock-record.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import { LeaseAges } from '../../src/lock/lease-ages.js';
import { LockService } from '../../src/lock/lock-service.js';
import type { HolderReader } from '../../src/store/holder-reader.js';
import { delegatingStore } from '../support/delegating-store.js';
import { MemoryLeaseStore } from '../../src/store/memory-lease-store.js';

const rule = DEFAULT_RULES[0]!;
const KEY = 'prod/Deployment/api';
const LEASE = leaseName(rule, KEY);
const PENDING_S = 10;

function request(name: string): LockRequest {
  return {
    key: KEY,
    object: { group: rule.group, kind: rule.kind, namespace: 'prod', name, uid: `uid-${name}` },
    requester: { username: 'system:serviceaccount:kubernaut-system:ro' },
  };
}

/** A store whose reads can be held open, and a clock that a read can move. */
class Harness {
  readonly store = new MemoryLeaseStore('locks');
  now = Date.UTC(2026, 0, 1);
  /** Holder states by object name; a name not listed is live. */
  readonly holders = new Map<string, HolderState>();
  readonly events: string[] = [];
  /** Set to hold the next Lease read open until released. */
  gate: Promise<void> | undefined;
  /** Milliseconds the clock moves while a Lease read is in flight. */
  readTakesMs = 0;

  readonly locks: LockService;

  constructor() {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the reader below records into this harness
    const h = this;
    const reader: HolderReader = {
      async read(_rule, ref: ObjectRef) {
        h.events.push(`holder ${ref.name}`);
        return h.holders.get(ref.name) ?? { kind: 'live', uid: `uid-${ref.name}`, phase: 'Running', lease: LEASE };
      },
    };
    const store = this.store;
    const gated = delegatingStore(store, {
      async get(name) {
        h.events.push('lease read');
        const gate = h.gate;
        h.gate = undefined;
        if (gate) await gate;
        h.now += h.readTakesMs;
        const got = await store.get(name);
        h.events.push('lease read done');
        return got;
      },
    });
    this.locks = new LockService({
      store: gated,
      holders: reader,
      pendingTimeoutSeconds: PENDING_S,
      clock: () => new Date(h.now),
      ages: new LeaseAges({ monotonic: () => h.now }),
    });
  }

  acquire(name: string) {
    return this.locks.acquire(rule, request(name), { dryRun: false });
  }
}

test('a contended key: the holder is read while the Lease is, once the Lease has been seen', async (t) => {
  const h = new Harness();
  t.is((await h.acquire('we-a')).verdict, 'allowed');
  t.is((await h.acquire('we-b')).verdict, 'busy');
  t.deepEqual(h.events, ['lease read', 'lease read done', 'holder we-a'], 'the first read: Lease, then holder');

  h.events.length = 0;
  let open!: () => void;
  h.gate = new Promise<void>((r) => (open = r));
  const pending = h.acquire('we-c');
  await new Promise((r) => setImmediate(r));
  t.deepEqual(h.events, ['holder we-a', 'lease read'], 'the holder read began before the Lease read answered');
  open();
  const outcome = await pending;
  t.is(outcome.verdict, 'busy');
  t.is(h.events.filter((e) => e.startsWith('holder')).length, 1, 'the early read was the only holder read');
});

test('an early holder read is dropped when the Lease changed meanwhile; the new holder is read', async (t) => {
  const h = new Harness();
  await h.acquire('we-a');
  t.is((await h.acquire('we-b')).verdict, 'busy'); // remembers: the Lease records we-a

  // The lock changes hands (we-a finished; we-d took over and was bound) behind this service's back.
  h.holders.set('we-a', { kind: 'terminal', uid: 'uid-we-a', phase: 'Completed', lease: LEASE });
  h.now += PENDING_S * 1000;
  const d = await h.acquire('we-d');
  t.is(d.verdict, 'allowed');
  const taken = decodeLease((await h.store.get(d.lease))!);
  await h.store.patch(
    d.lease,
    bindAtVersionPatch({ ...taken.record!, state: 'bound' }, taken.resourceVersion, taken.format),
  );

  // Read early, we-a is finished; that must not release we-d's lock.
  h.events.length = 0;
  const c = await h.acquire('we-c');
  t.is(c.verdict, 'busy');
  t.like(c, { holder: { object: { name: 'we-d' } } });
  t.deepEqual(
    h.events.filter((e) => e.startsWith('holder')),
    ['holder we-a', 'holder we-d'],
  );
});

test('an early holder read decides as of when it began: "gone" from before the pending timeout proves nothing', async (t) => {
  const h = new Harness();
  await h.acquire('we-a'); // pending; its object never shows up
  h.holders.set('we-a', { kind: 'gone' });
  h.now += 5_000;
  t.is((await h.acquire('we-b')).verdict, 'busy', 'pending and young: busy');

  // The early read begins 1 ms before the pending timeout; the Lease read answers after it.
  h.now += PENDING_S * 1000 - 5_000 - 1;
  h.readTakesMs = 500;
  const early = await h.acquire('we-c');
  t.is(early.verdict, 'busy', 'the holder was read before the timeout, when its create could still be in flight');

  // The next attempt reads the holder after the timeout: now "gone" is conclusive.
  const later = await h.acquire('we-c');
  t.like(later, { verdict: 'allowed', how: 'taken-over', takeover: 'pending-expired' });
});

/** A replica of its own on a shared store: its wall clock `skewMs` off, its own monotonic clock. */
function replica(store: MemoryLeaseStore, mono: { now: number }, skewMs: number, holders: Map<string, HolderState>) {
  return new LockService({
    store,
    holders: { read: async (_r, ref) => holders.get(ref.name) ?? { kind: 'gone' } },
    pendingTimeoutSeconds: PENDING_S,
    clock: () => new Date(Date.UTC(2026, 0, 1) + mono.now + skewMs),
    ages: new LeaseAges({ monotonic: () => mono.now }),
  });
}

for (const skewMs of [90_000, -90_000, 600_000, -600_000]) {
  test(`a replica whose clock is ${skewMs / 1000} s off never takes over a pending lock inside its window`, async (t) => {
    const store = new MemoryLeaseStore('locks');
    const mono = { now: 0 };
    const holders = new Map<string, HolderState>(); // nothing stored: every holder reads as gone
    const right = replica(store, mono, 0, holders);
    const skewed = replica(store, mono, skewMs, holders);
    t.is((await right.acquire(rule, request('we-a'), { dryRun: false })).verdict, 'allowed');
    mono.now += 100;
    t.is(
      (await skewed.acquire(rule, request('we-b'), { dryRun: false })).verdict,
      'busy',
      'first sight: the lock is young here',
    );
    mono.now += PENDING_S * 1000 - 1;
    t.is(
      (await skewed.acquire(rule, request('we-b'), { dryRun: false })).verdict,
      'busy',
      'seen for just under the pending timeout',
    );
    mono.now += 1;
    t.like(
      await skewed.acquire(rule, request('we-b'), { dryRun: false }),
      { verdict: 'allowed', takeover: 'pending-expired' },
      'reclaimed one pending timeout after it first saw it',
    );
  });
}

test('the writer counts a lock it wrote from just before its write: its own retry of the key is decided on that age', async (t) => {
  const store = new MemoryLeaseStore('locks');
  const mono = { now: 0 };
  const writer = replica(store, mono, 0, new Map());
  await writer.acquire(rule, request('we-a'), { dryRun: false });
  mono.now += PENDING_S * 1000;
  t.like(await writer.acquire(rule, request('we-b'), { dryRun: false }), {
    verdict: 'allowed',
    takeover: 'pending-expired',
  });
});

test('a holder read that began before the pending timeout decides as of its start, also without the early read', async (t) => {
  const store = new MemoryLeaseStore('locks');
  const mono = { now: 0 };
  const locks = new LockService({
    store,
    // The read takes 2 s; the timeout passes while it is under way.
    holders: { read: async () => ((mono.now += 2_000), { kind: 'gone' }) },
    pendingTimeoutSeconds: PENDING_S,
    ages: new LeaseAges({ monotonic: () => mono.now }),
  });
  await locks.acquire(rule, request('we-a'), { dryRun: false });
  mono.now = PENDING_S * 1000 - 1_000;
  // A fresh service: no early read, so the holder is read after the Lease.
  const fresh = new LockService({
    store,
    holders: { read: async () => ((mono.now += 2_000), { kind: 'gone' }) },
    pendingTimeoutSeconds: PENDING_S,
    ages: locks.ages,
  });
  t.is((await fresh.acquire(rule, request('we-b'), { dryRun: false })).verdict, 'busy');
});
