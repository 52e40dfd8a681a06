// The embedded Lease store: one process's map with the API server's compare-and-swap
// semantics (resourceVersion, AlreadyExists, Conflict, NotFound). Locks held here are
// local to this process.
import { randomUUID } from 'node:crypto';
import type { V1Lease } from '@kubernetes/client-node';
import { ErrorCodes, LeaseguardError } from '../errors.js';
import { applyJsonPatch, type JsonPatchOp } from '../core/json-patch.js';
import type { DeletePreconditions, LeaseStore } from './lease-store.js';
import type { ReadonlyLease } from '../core/lock-record.js';

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const timeFields = ['acquireTime', 'renewTime'] as const;

/**
 * The stored form of a Lease: a copy as the API server would return it (timestamps as
 * their wire strings, `metadata` overridden by the server's fields). Stored Leases are
 * handed out as they are (ReadonlyLease is read-only to the compiler): a read costs
 * nothing. Only the maps and spec are copied (everything else in a Lease is immutable
 * strings and numbers); a JSON round trip here cost more than the rest of an admission,
 * and Object.freeze on every write cost ~13 µs of CPU per new key in the benchmark.
 */
function stored(lease: V1Lease, server: V1Lease['metadata'] = {}): V1Lease {
  const md = lease.metadata ?? {};
  const metadata = { ...md, ...server };
  if (md.labels) metadata.labels = { ...md.labels };
  if (md.annotations) metadata.annotations = { ...md.annotations };
  if (metadata.creationTimestamp instanceof Date) metadata.creationTimestamp = metadata.creationTimestamp.toISOString() as unknown as Date;
  const out: V1Lease = { ...lease, metadata };
  if (lease.spec) {
    const spec = { ...lease.spec };
    for (const f of timeFields) {
      const v = spec[f];
      if (v instanceof Date) spec[f] = v.toISOString() as unknown as typeof v;
    }
    out.spec = spec;
  }
  return out;
}

function matches(lease: V1Lease, selector: string): boolean {
  const labels = lease.metadata?.labels ?? {};
  return selector
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .every((term) => {
      const eq = term.indexOf('=');
      return eq < 0 ? term in labels : labels[term.slice(0, eq)] === term.slice(eq + 1).replace(/^=/, '');
    });
}

export class MemoryLeaseStore implements LeaseStore {
  readonly backend = 'memory' as const;
  readonly namespace: string;
  #leases = new Map<string, V1Lease>();
  #version = 0;

  constructor(namespace: string) {
    this.namespace = namespace;
  }

  #notFound(name: string): LeaseguardError {
    return new LeaseguardError(ErrorCodes.STORE_NOT_FOUND, `leases.coordination.k8s.io "${name}" not found`, { statusCode: 404 });
  }

  #conflict(name: string, why: string): LeaseguardError {
    return new LeaseguardError(
      ErrorCodes.STORE_CONFLICT,
      `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": ${why}`,
      { statusCode: 409 },
    );
  }

  #validate(lease: V1Lease): string {
    const name = lease.metadata?.name ?? '';
    if (!DNS1123_SUBDOMAIN.test(name) || name.length > 253) {
      throw new LeaseguardError(ErrorCodes.STORE_INVALID, `Lease name "${name}" is not a DNS-1123 subdomain`, { statusCode: 422 });
    }
    const ns = lease.metadata?.namespace;
    if (ns !== undefined && ns !== this.namespace) {
      throw new LeaseguardError(ErrorCodes.STORE_INVALID, `Lease namespace "${ns}" does not match the store's "${this.namespace}"`, { statusCode: 422 });
    }
    return name;
  }

  async get(name: string): Promise<ReadonlyLease | null> {
    return this.#leases.get(name) ?? null;
  }

  async create(lease: V1Lease): Promise<ReadonlyLease> {
    const name = this.#validate(lease);
    if (this.#leases.has(name)) {
      throw new LeaseguardError(ErrorCodes.STORE_ALREADY_EXISTS, `leases.coordination.k8s.io "${name}" already exists`, { statusCode: 409 });
    }
    const created = stored(lease, {
      name,
      namespace: this.namespace,
      uid: randomUUID(),
      resourceVersion: String(++this.#version),
      creationTimestamp: new Date().toISOString() as unknown as Date,
    });
    this.#leases.set(name, created);
    return created;
  }

  async replace(lease: V1Lease): Promise<ReadonlyLease> {
    const name = this.#validate(lease);
    const rv = lease.metadata?.resourceVersion;
    if (!rv) {
      throw new LeaseguardError(ErrorCodes.STORE_INVALID, `refusing an unconditional update of Lease "${name}": no resourceVersion`, { statusCode: 422 });
    }
    const current = this.#leases.get(name);
    if (!current) {
      // As the API server does for Leases: an update of a missing object creates it.
      const { resourceVersion: _ignored, ...metadata } = lease.metadata ?? {};
      return this.create({ ...lease, metadata });
    }
    if (current.metadata?.resourceVersion !== rv) {
      throw this.#conflict(name, 'the object has been modified; please apply your changes to the latest version and try again');
    }
    const replaced = stored(lease, {
      name,
      namespace: this.namespace,
      uid: current.metadata?.uid,
      creationTimestamp: current.metadata?.creationTimestamp,
      resourceVersion: String(++this.#version),
    } as V1Lease['metadata']);
    this.#leases.set(name, replaced);
    return replaced;
  }

  async patch(name: string, ops: JsonPatchOp[]): Promise<ReadonlyLease> {
    const current = this.#leases.get(name);
    if (!current) throw this.#notFound(name);
    const applied = applyJsonPatch(current, ops);
    if (!applied.ok) throw this.#conflict(name, applied.message);
    const patched = stored(applied.doc as V1Lease, { resourceVersion: String(++this.#version) });
    this.#leases.set(name, patched);
    return patched;
  }

  async delete(name: string, pre: DeletePreconditions): Promise<void> {
    const current = this.#leases.get(name);
    if (!current) throw this.#notFound(name);
    if (pre.uid !== undefined && current.metadata?.uid !== pre.uid) {
      throw this.#conflict(name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata?.uid}`);
    }
    if (pre.resourceVersion !== undefined && current.metadata?.resourceVersion !== pre.resourceVersion) {
      throw this.#conflict(
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${current.metadata?.resourceVersion}`,
      );
    }
    this.#leases.delete(name);
  }

  /** Every stored Lease, for a scan in this process (the embedded expiry walks them all). */
  *scan(): IterableIterator<ReadonlyLease> {
    yield* this.#leases.values();
  }

  async list(labelSelector: string): Promise<ReadonlyLease[]> {
    return [...this.#leases.values()].filter((l) => matches(l, labelSelector));
  }

  async *listPages(labelSelector: string): AsyncIterable<ReadonlyLease[]> {
    yield await this.list(labelSelector);
  }
}
