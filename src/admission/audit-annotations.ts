// The decision record, where the API server keeps it: auditAnnotations on the admission
// response are written by the API server into its audit log (as
// "<webhook name>/<key>") for every request its audit policy records, at no cost to
// leaseguard. Keys are fixed; values are what the decision was made on.
import { objectLabel } from '../core/lock-record.js';
import type { DecisionDetail, ValidationResult } from './validating-webhook.js';

/** The audit annotation keys leaseguard sets (each becomes "<webhook name>/<key>"). */
export const AuditKeys = {
  decision: 'decision',
  key: 'key',
  lease: 'lease',
  holder: 'holder',
  takeover: 'takeover',
  previousHolder: 'previous-holder',
  error: 'error',
} as const;

/** Values are clipped so one audit record stays small whatever the key (keys may be 1 KiB). */
const MAX_VALUE = 2048;
const clip = (v: string) => (v.length > MAX_VALUE ? `${v.slice(0, MAX_VALUE)}…` : v);

/** Audit annotations for a guarded decision; none for requests leaseguard passed untouched. */
export function auditAnnotations(
  result: Pick<ValidationResult, 'decision' | 'rule' | 'key' | 'lease' | 'detail'>,
): Record<string, string> | undefined {
  if (!result.rule || result.decision === 'passed') return undefined;
  const out: Record<string, string> = { [AuditKeys.decision]: result.decision };
  const put = (k: string, v: unknown) => {
    if (typeof v === 'string' && v !== '') out[k] = clip(v);
  };
  put(AuditKeys.key, result.key);
  put(AuditKeys.lease, result.lease);
  for (const [k, v] of Object.entries(detailAnnotations(result.detail))) put(k, v);
  return out;
}

/** The annotations for what the decision was made on: whom, and why, or which error. */
function detailAnnotations(detail: DecisionDetail | undefined): Record<string, string> {
  switch (detail?.kind) {
    case undefined:
      return {};
    case 'busy':
      return { [AuditKeys.holder]: objectLabel(detail.holder.object) };
    case 'takeover':
      return { [AuditKeys.takeover]: detail.reason, [AuditKeys.previousHolder]: objectLabel(detail.previous.object) };
    case 'unverifiable':
      return { [AuditKeys.error]: detail.code };
    case 'internal':
      return { [AuditKeys.error]: detail.error };
  }
}
