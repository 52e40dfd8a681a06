// Denial texts a person can act on. Machine-readable parts live in status reason,
// details and causes; these strings are for people and never parsed. Everything in them
// that comes from an object, a Lease or a request is escaped (printable.ts).
import { objectLabel, type LockRecord } from '../core/lock-record.js';
import { printable, quoted } from '../core/printable.js';
import type { GuardRule } from '../core/rules.js';
import type { TakeoverReason } from '../core/decide.js';

/** How a rule's key is named in messages: "target", "fingerprint", or its field name. */
export function keyNoun(rule: GuardRule): string {
  if (rule.keyPath === 'spec.targetResource') return 'target';
  if (rule.keyPath === 'spec.signalFingerprint') return 'fingerprint';
  return rule.keyPath.split('.').pop() ?? 'key';
}

export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${m % 60 ? `${m % 60}m` : ''}`;
  return `${Math.floor(h / 24)}d${h % 24 ? `${h % 24}h` : ''}`;
}

/** The holder as a person reads it: `workflowexecution prod/we-1`. */
export function holderName(holder: LockRecord): string {
  return `${printable(holder.object.kind.toLowerCase())} ${printable(objectLabel(holder.object))}`;
}

/** The holder and who asked for it, and how long ago when `ageMs` is given. */
export function holderPhrase(holder: LockRecord, ageMs?: number): string {
  const by = holder.requester.username ? printable(holder.requester.username) : 'an unknown user';
  const pod = holder.requester.pod ? ` on pod ${printable(holder.requester.pod)}` : '';
  const ago = ageMs === undefined ? '' : `, ${formatAge(ageMs)} ago`;
  return `${holderName(holder)} (requested by ${by}${pod}${ago})`;
}

/** `pendingUntil`: the holder may not be stored yet; by then it is, or the key is free. */
export function busyMessage(
  rule: GuardRule,
  key: string,
  holder: LockRecord,
  ageMs: number,
  pendingUntil?: string,
): string {
  return `${keyNoun(rule)} ${quoted(key)} is busy: held by ${holderPhrase(holder, ageMs)}${pendingPhrase(pendingUntil)}; retry after it completes`;
}

/**
 * A busy denial for a requester in another namespace than the holder: that the key is
 * taken, and a pending holder's timing, but not which object, whose, or from where.
 */
export function hiddenBusyMessage(rule: GuardRule, key: string, pendingUntil?: string): string {
  return `${keyNoun(rule)} ${quoted(key)} is busy: held by ${HIDDEN_HOLDER}${pendingPhrase(pendingUntil)}; retry after it completes`;
}

export const HIDDEN_HOLDER = 'an object in another namespace';

function pendingPhrase(until: string | undefined): string {
  return until === undefined
    ? ''
    : `; it may not be stored yet, so the lock is pending until ${until} (by then it is stored or the key is free)`;
}

/** Why a lock changed hands, as a person reads it. */
const TAKEOVER_WHY: Record<TakeoverReason, string> = {
  'holder-gone': 'deleted',
  'holder-terminal': 'finished',
  'holder-mismatch': 'no longer holding it (its key or UID changed)',
  'pending-expired': 'never stored within the pending timeout',
  expired: 'expired',
  'max-hold-exceeded': 'held past maxHoldSeconds',
};

/** `took over the lock on target "X" from finished workflowexecution ns/name`. */
export function takeoverPhrase(rule: GuardRule, key: string, previous: LockRecord, reason: TakeoverReason): string {
  return `took over the lock on ${keyNoun(rule)} ${quoted(key)} from ${TAKEOVER_WHY[reason]} ${holderName(previous)}`;
}

/**
 * The warning kubectl prints when a create takes over a lock from an earlier holder. A
 * holder in another namespace than the new one is not named (the requester may not see it).
 */
export function takeoverWarning(
  rule: GuardRule,
  key: string,
  previous: LockRecord,
  reason: TakeoverReason,
  requestNamespace: string,
): string {
  if (previous.object.namespace === requestNamespace)
    return `leaseguard: ${takeoverPhrase(rule, key, previous, reason)}`;
  return `leaseguard: took over the lock on ${keyNoun(rule)} ${quoted(key)} from ${TAKEOVER_WHY[reason]} ${printable(previous.object.kind.toLowerCase())} in another namespace`;
}

export function unavailableMessage(rule: GuardRule, key: string, reason: string): string {
  return (
    `${unverifiedPhrase(rule, key, reason)}. ` +
    'The create was refused so that no duplicate can slip through (leaseguard fails closed); retry once the API server answers, ' +
    "and check leaseguard's logs and RBAC if this persists"
  );
}

/** A new key refused because leaseguard holds as many locks as it may (maxLeases, embeddedMaxLocks). */
export function fullMessage(rule: GuardRule, key: string, reason: string): string {
  return (
    `could not take a lock for ${keyNoun(rule)} ${quoted(key)}: ${printable(reason)}. ` +
    'The create was refused (leaseguard fails closed); retry once locks are released, and find what creates so many distinct keys'
  );
}

/** The warning kubectl prints when failOpen admits a create whose lock could not be verified. */
export function failOpenWarning(rule: GuardRule, key: string, reason: string): string {
  return (
    `leaseguard fail-open: ${unverifiedPhrase(rule, key, reason)}. ` +
    'The create was admitted unchecked (failOpen is on), so it may duplicate another; ' +
    "check leaseguard's logs and RBAC"
  );
}

function unverifiedPhrase(rule: GuardRule, key: string, reason: string): string {
  return `could not verify the lock for ${keyNoun(rule)} ${quoted(key)}: ${printable(reason)}`;
}

export function foreignLeaseMessage(
  rule: GuardRule,
  key: string,
  lease: string,
  recordedKey: string | undefined,
): string {
  const recorded = recordedKey === undefined ? 'no readable leaseguard lock' : `key ${quoted(recordedKey)}`;
  return (
    `the Lease ${lease} for ${keyNoun(rule)} ${quoted(key)} records ${recorded}, so it is not this lock and is never shared. ` +
    `Inspect it with: kubectl -n ${lease.split('/')[0]} get lease ${lease.split('/')[1]} -o yaml`
  );
}

/** A guarded kind refused outside the namespaces its rule allows. */
export function namespaceMessage(rule: GuardRule, namespace: string): string {
  const allowed = (rule.namespaces ?? []).map((ns) => printable(ns)).join(', ');
  return (
    `leaseguard refuses ${rule.kind} in namespace ${printable(namespace)}: it may be created only in ${allowed}, ` +
    "so that nobody who may create it elsewhere can take another's lock keys. Create it there, " +
    `or (an operator) add ${printable(namespace)} to guardedNamespaces or to the ${rule.kind} rule's namespaces`
  );
}
