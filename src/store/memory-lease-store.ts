// The embedded Lease store: one process's map with the API server's compare-and-swap
// semantics (resourceVersion, AlreadyExists, Conflict, NotFound). Locks held here are
// local to this process.
import { randomUUID } from 'node:crypto';
import type { V1Lease, V1ObjectMeta } from '@kubernetes/client-node';
import { ErrorCodes, LeaseguardError } from '../errors.js';
import { applyJsonPatch, type JsonPatchOp } from '../core/json-patch.js';
import type { DeletePreconditions, LeaseStore } from './lease-store.js';
import type { ReadonlyLease } from '../core/lock-record.js';

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * The string as one flat run of characters. V8 keeps a string built by concatenation as
 * a tree of its pieces until something flattens it: randomUUID() is twenty pieces,
 * V1MicroTime's wire form a slice of another string plus a suffix. Kept for a Lease's
 * lifetime, such trees took ~530 of the ~1,700 bytes a stored lock cost. Converting a
 * string to a number flattens it in place (the pieces become garbage); the number is
 * not wanted.
 */
function flat<T>(v: T): T {
  if (typeof v === 'string') Number(v);
  return v;
}

/** A time as the API server returns it (its wire string), flat. */
function wire<T>(v: T): T {
  return flat(v instanceof Date ? (v.toISOString() as T) : v);
}

function copyMap(map: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!map) return undefined;
  const out: Record<string, string> = {};
  for (const k of Object.keys(map)) out[k] = flat(map[k] as string);
  return out;
}

/** Fields a copy left undefined are left out, as the API server leaves them out. */
function defined<T extends object>(o: T): T {
  for (const k in o) if (o[k] === undefined) delete o[k];
  return o;
}

/** Adds the fields of `from` that `known` lacks (fields leaseguard never sets), as they are. */
function withRest<T extends object>(known: T, from: object): T {
  for (const k in from) {
    const v = (from as Record<string, unknown>)[k];
    if (v !== undefined && !(k in known)) (known as Record<string, unknown>)[k] = v;
  }
  return known;
}

/**
 * The stored form of a Lease: a copy as the API server would return it (timestamps as
 * their wire strings, `metadata` overridden by the server's fields). Stored Leases are
 * handed out as they are (ReadonlyLease is read-only to the compiler): a read costs
 * nothing. Only the maps and spec are copied (everything else in a Lease is immutable
 * strings and numbers); a JSON round trip here cost more than the rest of an admission,
 * and Object.freeze on every write cost ~13 µs of CPU per new key in the benchmark.
 * Each object is built as one literal with every field a lock Lease has: V8 then keeps
 * the fields inside the object (copies by spread kept ~290 bytes more per Lease).
 */
function stored(lease: V1Lease, server: V1ObjectMeta = {}): V1Lease {
  const md = { ...lease.metadata, ...server };
  const metadata = withRest(
    defined({
      name: flat(md.name),
      namespace: md.namespace,
      uid: flat(md.uid),
      resourceVersion: md.resourceVersion,
      creationTimestamp: wire(md.creationTimestamp),
      labels: copyMap(md.labels),
      annotations: copyMap(md.annotations),
    }),
    md,
  );
  const s = lease.spec;
  const spec =
    s &&
    withRest(
      defined({
        holderIdentity: flat(s.holderIdentity),
        acquireTime: wire(s.acquireTime),
        renewTime: wire(s.renewTime),
        leaseDurationSeconds: s.leaseDurationSeconds,
        leaseTransitions: s.leaseTransitions,
      }),
      s,
    );
  return withRest(defined({ apiVersion: lease.apiVersion, kind: lease.kind, metadata, spec }), lease);
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
  /** At most this many Leases: beyond it a create fails (STORE_FULL) and nothing is evicted. */
  readonly maxLeases: number;

  constructor(namespace: string, options: { maxLeases?: number } = {}) {
    this.namespace = namespace;
    this.maxLeases = options.maxLeases ?? Number.POSITIVE_INFINITY;
  }

  get size(): number {
    return this.#leases.size;
  }

  #notFound(name: string): LeaseguardError {
    return new LeaseguardError(ErrorCodes.STORE_NOT_FOUND, `leases.coordination.k8s.io "${name}" not found`, {
      statusCode: 404,
    });
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
      throw new LeaseguardError(ErrorCodes.STORE_INVALID, `Lease name "${name}" is not a DNS-1123 subdomain`, {
        statusCode: 422,
      });
    }
    const ns = lease.metadata?.namespace;
    if (ns !== undefined && ns !== this.namespace) {
      throw new LeaseguardError(
        ErrorCodes.STORE_INVALID,
        `Lease namespace "${ns}" does not match the store's "${this.namespace}"`,
        { statusCode: 422 },
      );
    }
    return name;
  }

  async get(name: string): Promise<ReadonlyLease | null> {
    return this.#leases.get(name) ?? null;
  }

  async create(lease: V1Lease): Promise<ReadonlyLease> {
    const name = this.#validate(lease);
    if (this.#leases.has(name)) {
      throw new LeaseguardError(
        ErrorCodes.STORE_ALREADY_EXISTS,
        `leases.coordination.k8s.io "${name}" already exists`,
        { statusCode: 409 },
      );
    }
    if (this.#leases.size >= this.maxLeases) {
      // A live lock is never evicted to make room: the new key fails closed instead.
      throw new LeaseguardError(
        ErrorCodes.STORE_FULL,
        `the embedded Lease store holds its maximum of ${this.maxLeases} locks (embeddedMaxLocks); expired ones are dropped every pending timeout`,
        { statusCode: 503 },
      );
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
      throw new LeaseguardError(
        ErrorCodes.STORE_INVALID,
        `refusing an unconditional update of Lease "${name}": no resourceVersion`,
        { statusCode: 422 },
      );
    }
    const current = this.#leases.get(name);
    if (!current) {
      // As the API server does for Leases: an update of a missing object creates it.
      const { resourceVersion: _ignored, ...metadata } = lease.metadata ?? {};
      return this.create({ ...lease, metadata });
    }
    if (current.metadata?.resourceVersion !== rv) {
      throw this.#conflict(
        name,
        'the object has been modified; please apply your changes to the latest version and try again',
      );
    }
    const replaced = stored(lease, {
      name,
      namespace: this.namespace,
      uid: current.metadata?.uid,
      creationTimestamp: current.metadata?.creationTimestamp,
      resourceVersion: String(++this.#version),
    });
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
      throw this.#conflict(
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata?.uid}`,
      );
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

  async count(): Promise<number> {
    return this.#leases.size;
  }

  async *listPages(labelSelector: string): AsyncIterable<ReadonlyLease[]> {
    yield await this.list(labelSelector);
  }
}
