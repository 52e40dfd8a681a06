// A LeaseStore that passes every call to another store, except the ones a test replaces.
import type { LeaseStore } from '../../src/store/lease-store.js';

type Methods = Pick<LeaseStore, 'get' | 'create' | 'replace' | 'patch' | 'delete' | 'list' | 'listPages'>;

export function delegatingStore(inner: LeaseStore, overrides: Partial<Methods>): LeaseStore {
  return {
    backend: inner.backend,
    namespace: inner.namespace,
    get: (name, signal) => inner.get(name, signal),
    create: (lease, signal) => inner.create(lease, signal),
    replace: (lease, signal) => inner.replace(lease, signal),
    patch: (name, ops, signal) => inner.patch(name, ops, signal),
    delete: (name, pre, signal) => inner.delete(name, pre, signal),
    list: (selector, signal) => inner.list(selector, signal),
    listPages: (selector, signal) => inner.listPages(selector, signal),
    ...overrides,
  };
}
