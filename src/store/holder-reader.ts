// Live reads of the object that holds a lock. Only a live read decides "gone": a cache
// can lag behind a create.
import type { HolderState } from '../core/holder.js';
import { leaseName } from '../core/lease-name.js';
import type { ObjectRef } from '../core/lock-record.js';
import { deriveKey, phaseOf, type GuardRule } from '../core/rules.js';
import { ErrorCodes, hasCode } from '../errors.js';
import { callApi, type ApiObserve } from '../kube/api-errors.js';
import type { KubeClients } from '../kube/kube-client.js';

export interface HolderReader {
  read(rule: GuardRule, ref: ObjectRef, signal?: AbortSignal): Promise<HolderState>;
}

/** With no API server (embedded store) nothing can be read; the Lease's age decides. */
export const unverifiableHolders: HolderReader = {
  read: async () => ({ kind: 'unverifiable' }),
};

export class KubeHolderReader implements HolderReader {
  readonly #clients: KubeClients;
  readonly #observe: ApiObserve;

  constructor(clients: KubeClients, observe: ApiObserve = () => {}) {
    this.#clients = clients;
    this.#observe = observe;
  }

  async read(rule: GuardRule, ref: ObjectRef, signal?: AbortSignal): Promise<HolderState> {
    const api = this.#clients.customObjects;
    const opts = this.#clients.withSignal(signal);
    const base = { group: rule.group, version: rule.version, plural: rule.resource, name: ref.name };
    const what = `get ${rule.resource}.${rule.group} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
    let object: unknown;
    try {
      object = await callApi(this.#observe, 'get', rule.resource, what, () =>
        ref.namespace
          ? api.getNamespacedCustomObject({ ...base, namespace: ref.namespace }, opts)
          : api.getClusterCustomObject(base, opts),
      );
    } catch (err) {
      if (hasCode(err, ErrorCodes.STORE_NOT_FOUND)) return { kind: 'gone' };
      throw err;
    }
    return holderState(rule, object);
  }
}

/** The state of an object read live at a holder's name: its UID, phase and the Lease its key maps to by the rule. */
export function holderState(rule: GuardRule, object: unknown): HolderState {
  const md = (object as { metadata?: { uid?: unknown; namespace?: unknown } } | null)?.metadata;
  const uid = typeof md?.uid === 'string' ? md.uid : '';
  const derived = deriveKey(rule, object, typeof md?.namespace === 'string' ? md.namespace : undefined);
  const lease = derived.ok ? leaseName(rule, derived.scopedKey) : undefined;
  const { phase, terminal } = phaseOf(rule, object);
  return { kind: terminal ? 'terminal' : 'live', uid, phase, lease };
}
