// The mutating webhook: stamps a guarded object with its lock key and Lease so people
// and tools can find the lock from the object. Pure: no reads, no writes.
import { pointerSegment, type JsonPatchOp } from '../core/json-patch.js';
import { leaseName } from '../core/lease-name.js';
import { deriveKey, type RuleIndex } from '../core/rules.js';
import { LEASE_ANNOTATION, LOCK_KEY_ANNOTATION } from '../core/stamps.js';
import { allow, type AdmissionRequest, type AdmissionResponse } from './review.js';

export { LEASE_ANNOTATION, LOCK_KEY_ANNOTATION };

export function lockAnnotationsPatch(object: Record<string, unknown>, stamps: Record<string, string>): JsonPatchOp[] {
  const md = object.metadata;
  const annotations =
    md && typeof md === 'object' && !Array.isArray(md) ? (md as Record<string, unknown>).annotations : undefined;
  if (!md || typeof md !== 'object') return [{ op: 'add', path: '/metadata', value: { annotations: stamps } }];
  if (!annotations || typeof annotations !== 'object' || Array.isArray(annotations)) {
    return [{ op: 'add', path: '/metadata/annotations', value: stamps }];
  }
  const existing = annotations as Record<string, unknown>;
  return Object.entries(stamps)
    .filter(([k, v]) => existing[k] !== v)
    .map(([k, v]) => ({
      op: k in existing ? 'replace' : 'add',
      path: `/metadata/annotations/${pointerSegment(k)}`,
      value: v,
    }));
}

export interface MutatingWebhookOptions {
  rules: RuleIndex;
  leaseNamespace: string;
}

export interface MutationResult {
  response: AdmissionResponse;
  decision: 'stamped' | 'passed';
  key?: string;
}

export class MutatingWebhook {
  readonly #o: MutatingWebhookOptions;

  constructor(options: MutatingWebhookOptions) {
    this.#o = options;
  }

  review(req: AdmissionRequest): MutationResult {
    const rule = this.#o.rules.find(req.kind.group, req.kind.kind);
    if (!rule || req.operation !== 'CREATE' || !req.object) return { response: allow(req.uid), decision: 'passed' };
    const metaNamespace = (req.object.metadata as Record<string, unknown> | undefined)?.namespace;
    const namespace = req.namespace || (typeof metaNamespace === 'string' ? metaNamespace : '');
    const derived = deriveKey(rule, req.object, namespace);
    // An invalid key is the validating webhook's to deny, with its reasons.
    if (!derived.ok) return { response: allow(req.uid), decision: 'passed' };
    const patch = lockAnnotationsPatch(req.object, {
      [LOCK_KEY_ANNOTATION]: derived.scopedKey,
      [LEASE_ANNOTATION]: `${this.#o.leaseNamespace}/${leaseName(rule, derived.scopedKey)}`,
    });
    if (patch.length === 0) return { response: allow(req.uid), decision: 'passed', key: derived.key };
    return {
      response: allow(req.uid, {
        patchType: 'JSONPatch',
        patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
      }),
      decision: 'stamped',
      key: derived.key,
    };
  }
}
