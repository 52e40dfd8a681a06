// A LeaseStore that fails on purpose: hangs until the caller gives up, answers 500 or
// 403, or applies a write and then loses the reply. Seeded, so a failure reproduces.
import type { V1Lease } from '@kubernetes/client-node';
import { ErrorCodes, LeaseguardError } from '../../src/errors.js';
import type { JsonPatchOp } from '../../src/core/json-patch.js';
import type { ReadonlyLease } from '../../src/core/lock-record.js';
import type { DeletePreconditions, LeaseStore } from '../../src/store/lease-store.js';

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

export class FaultyStore implements LeaseStore {
  readonly backend = 'memory' as const;
  readonly injected: Record<Fault, number> = { hang: 0, '500': 0, '403': 0, 'lost-reply': 0 };

  constructor(
    private readonly inner: LeaseStore,
    private readonly faults: Fault[],
    private readonly rate: number,
    private readonly random: () => number = seeded(1),
  ) {}

  get namespace(): string {
    return this.inner.namespace;
  }

  async #call<T>(what: string, signal: AbortSignal | undefined, op: () => Promise<T>): Promise<T> {
    if (this.random() >= this.rate || this.faults.length === 0) return op();
    const fault = this.faults[Math.floor(this.random() * this.faults.length)] as Fault;
    this.injected[fault]++;
    switch (fault) {
      case 'hang':
        return new Promise<T>((_, reject) => {
          const fail = () => reject(new LeaseguardError(ErrorCodes.STORE_TIMEOUT, `${what}: the API server did not answer before the deadline`));
          if (signal?.aborted) fail();
          else signal?.addEventListener('abort', fail, { once: true });
        });
      case '500':
        throw new LeaseguardError(ErrorCodes.STORE_UNAVAILABLE, `${what}: etcdserver: request timed out`, { statusCode: 500 });
      case '403':
        throw new LeaseguardError(
          ErrorCodes.STORE_FORBIDDEN,
          `${what}: leases.coordination.k8s.io is forbidden: User "system:serviceaccount:leaseguard-system:leaseguard" cannot ${what.split(' ')[0]} resource "leases"`,
          { statusCode: 403 },
        );
      case 'lost-reply':
        await op();
        throw new LeaseguardError(ErrorCodes.STORE_UNAVAILABLE, `${what}: the API server could not be reached (ECONNRESET)`, { statusCode: 503 });
    }
  }

  get(name: string, signal?: AbortSignal): Promise<ReadonlyLease | null> {
    return this.#call(`get Lease ${name}`, signal, () => this.inner.get(name, signal));
  }
  create(lease: V1Lease, signal?: AbortSignal): Promise<ReadonlyLease> {
    return this.#call(`create Lease ${lease.metadata?.name}`, signal, () => this.inner.create(lease, signal));
  }
  replace(lease: V1Lease, signal?: AbortSignal): Promise<ReadonlyLease> {
    return this.#call(`update Lease ${lease.metadata?.name}`, signal, () => this.inner.replace(lease, signal));
  }
  delete(name: string, pre: DeletePreconditions, signal?: AbortSignal): Promise<void> {
    return this.#call(`delete Lease ${name}`, signal, () => this.inner.delete(name, pre, signal));
  }
  patch(name: string, ops: JsonPatchOp[], signal?: AbortSignal): Promise<ReadonlyLease> {
    return this.#call(`patch Lease ${name}`, signal, () => this.inner.patch(name, ops, signal));
  }
  async *listPages(selector: string, signal?: AbortSignal): AsyncIterable<ReadonlyLease[]> {
    yield await this.list(selector, signal);
  }
  list(selector: string, signal?: AbortSignal): Promise<ReadonlyLease[]> {
    return this.#call('list Leases', signal, () => this.inner.list(selector, signal));
  }
}
