// A LeaseStore that fails on purpose: hangs until the caller gives up, answers 500 or
// 403, or applies a write and then loses the reply. Seeded, so a failure reproduces.
import { ErrorCodes, LeaseguardError } from '../../src/errors.js';
import type { LeaseStore } from '../../src/store/lease-store.js';
import { delegatingStore } from './delegating-store.js';

export type Fault = 'hang' | '500' | '403' | 'lost-reply';

/** mulberry32: a tiny seeded PRNG. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type FaultyStore = LeaseStore & { readonly injected: Record<Fault, number> };

/**
 * `inner` behind faults: each call fails with probability `rate`, by one of `faults`
 * drawn from `random`. Every call goes through the delegating store, so this file says
 * only how a call fails.
 */
export function faultyStore(
  inner: LeaseStore,
  faults: Fault[],
  rate: number,
  random: () => number = seeded(1),
): FaultyStore {
  const injected: Record<Fault, number> = { hang: 0, '500': 0, '403': 0, 'lost-reply': 0 };

  async function call<T>(what: string, signal: AbortSignal | undefined, op: () => Promise<T>): Promise<T> {
    if (random() >= rate || faults.length === 0) return op();
    const fault = faults[Math.floor(random() * faults.length)] as Fault;
    injected[fault]++;
    switch (fault) {
      case 'hang':
        return new Promise<T>((_, reject) => {
          const fail = () =>
            reject(
              new LeaseguardError(
                ErrorCodes.STORE_TIMEOUT,
                `${what}: the API server did not answer before the deadline`,
              ),
            );
          if (signal?.aborted) fail();
          else signal?.addEventListener('abort', fail, { once: true });
        });
      case '500':
        throw new LeaseguardError(ErrorCodes.STORE_UNAVAILABLE, `${what}: etcdserver: request timed out`, {
          statusCode: 500,
        });
      case '403':
        throw new LeaseguardError(
          ErrorCodes.STORE_FORBIDDEN,
          `${what}: leases.coordination.k8s.io is forbidden: User "system:serviceaccount:leaseguard-system:leaseguard" cannot ${what.split(' ')[0]} resource "leases"`,
          { statusCode: 403 },
        );
      case 'lost-reply':
        await op();
        throw new LeaseguardError(
          ErrorCodes.STORE_UNAVAILABLE,
          `${what}: the API server could not be reached (ECONNRESET)`,
          { statusCode: 503 },
        );
    }
  }

  const list: LeaseStore['list'] = (selector, signal) =>
    call('list Leases', signal, () => inner.list(selector, signal));
  const store = delegatingStore(inner, {
    get: (name, signal) => call(`get Lease ${name}`, signal, () => inner.get(name, signal)),
    create: (lease, signal) => call(`create Lease ${lease.metadata?.name}`, signal, () => inner.create(lease, signal)),
    replace: (lease, signal) =>
      call(`update Lease ${lease.metadata?.name}`, signal, () => inner.replace(lease, signal)),
    delete: (name, pre, signal) => call(`delete Lease ${name}`, signal, () => inner.delete(name, pre, signal)),
    patch: (name, ops, signal) => call(`patch Lease ${name}`, signal, () => inner.patch(name, ops, signal)),
    list,
    // One page, through the same faults as list.
    listPages: async function* (selector, signal) {
      yield await list(selector, signal);
    },
  });
  return Object.assign(store, { injected });
}
