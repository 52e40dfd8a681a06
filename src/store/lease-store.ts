// The compare-and-swap primitives every lock decision is made with. Two implementations
// share this surface and one contract test suite: the Kubernetes API (kube-lease-store)
// and an in-process map (memory-lease-store).
import type { V1Lease } from '@kubernetes/client-node';
import type { JsonPatchOp } from '../core/json-patch.js';
import type { ReadonlyLease } from '../core/lock-record.js';

export interface DeletePreconditions {
  uid?: string;
  resourceVersion?: string;
}

export interface LeaseStore {
  /** `kubernetes` or `memory`: where locks live, for logs and readiness. */
  readonly backend: 'kubernetes' | 'memory';
  /** The namespace all Leases live in. */
  readonly namespace: string;
  /** The Lease, or null when none exists. */
  get(name: string, signal?: AbortSignal): Promise<ReadonlyLease | null>;
  /** Creates the Lease; throws STORE_ALREADY_EXISTS when the name is taken. */
  create(lease: V1Lease, signal?: AbortSignal): Promise<ReadonlyLease>;
  /**
   * Replaces the Lease if `metadata.resourceVersion` still matches; throws STORE_CONFLICT
   * when it does not. Never unconditional. When the Lease is gone, the API server creates
   * it (Leases allow create-on-update), atomically against any concurrent create; the
   * in-process store does the same. Either way the lock was free, so the write that lands
   * holds it.
   */
  replace(lease: V1Lease, signal?: AbortSignal): Promise<ReadonlyLease>;
  /**
   * Applies a JSON Patch atomically against the current version. A patch that does not
   * apply (a failed `test`, a missing path) throws STORE_CONFLICT: the Lease is not in the
   * state the caller expected (the API server does not say which operation failed). A
   * missing Lease throws STORE_NOT_FOUND: a patch never creates.
   */
  patch(name: string, ops: JsonPatchOp[], signal?: AbortSignal): Promise<ReadonlyLease>;
  /** Deletes the Lease if the preconditions hold (STORE_CONFLICT otherwise, STORE_NOT_FOUND if gone). */
  delete(name: string, preconditions: DeletePreconditions, signal?: AbortSignal): Promise<void>;
  /** Leases matching a label selector (`key=value[,key=value]`). */
  list(labelSelector: string, signal?: AbortSignal): Promise<ReadonlyLease[]>;
  /** The same, a page at a time, so a caller never holds every Lease at once. */
  listPages(labelSelector: string, signal?: AbortSignal): AsyncIterable<ReadonlyLease[]>;
  /**
   * How many Leases the namespace holds (leaseguard's and any other), cheaply, without
   * listing them; undefined when the store cannot say. For the maxLeases bound.
   */
  count?(signal?: AbortSignal): Promise<number | undefined>;
}
