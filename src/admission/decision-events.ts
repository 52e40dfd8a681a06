// Which admission decisions become Kubernetes Events, and what they say. Pure: the
// recorder aggregates them (a storm of busy denials on one lock is one Event with a
// count), so the message holds nothing that changes per request (no age, no uid).
// Events are about the key's Lease in leaseguard's namespace: a refused object was never
// stored, so it cannot be an Event's subject, and one namespace keeps RBAC to one Role.
import { EventReasons, type EventSubject, type LeaseguardEvent } from '../kube/event-recorder.js';
import { printable, quoted } from '../core/printable.js';
import type { TakeoverReason } from '../core/decide.js';
import { holderName, holderPhrase, keyNoun, takeoverPhrase } from './messages.js';
import type { ValidationResult } from './validating-webhook.js';

/** Take-overs that leave a live object behind, or meet a Lease that named no real holder. */
const NOTABLE_TAKEOVERS: ReadonlySet<TakeoverReason> = new Set(['holder-mismatch', 'max-hold-exceeded']);

/**
 * The Lease named `namespace/name`, as an Event's subject. With its uid, `kubectl describe
 * lease` lists the Event (it selects Events by the object's uid as well as its name).
 */
export function leaseSubject(lease: string, uid?: string): EventSubject | undefined {
  const slash = lease.indexOf('/');
  if (slash <= 0 || slash === lease.length - 1) return undefined;
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    namespace: lease.slice(0, slash),
    name: lease.slice(slash + 1),
    ...(uid ? { uid } : {}),
  };
}

export interface DecisionFacts extends Pick<
  ValidationResult,
  'decision' | 'rule' | 'key' | 'lease' | 'leaseUid' | 'detail'
> {
  /** The object the create was for (`namespace/name`); asked only for an Event that names it. */
  object: () => string;
  /** A server-side dry run, or a rule in dryrun mode: nothing may be written. */
  dryRun: boolean;
}

/** The Event a decision is worth, or undefined. */
export function decisionEvent(f: DecisionFacts): LeaseguardEvent | undefined {
  if (f.dryRun || !f.rule || f.rule.mode === 'dryrun' || f.key === undefined || f.lease === undefined) return undefined;
  const regarding = leaseSubject(f.lease, f.leaseUid);
  if (!regarding) return undefined;
  const kind = f.rule.kind.toLowerCase();
  const key = `${keyNoun(f.rule)} ${quoted(f.key)}`;
  const d = f.detail;
  switch (f.decision) {
    case 'denied-busy':
      if (d?.kind !== 'busy') return undefined;
      return {
        regarding,
        type: 'Normal',
        reason: EventReasons.busy,
        message: `refused creates of ${kind}: ${key} is held by ${holderPhrase(d.holder)}`,
      };
    case 'warned-busy':
      if (d?.kind !== 'busy') return undefined;
      return {
        regarding,
        type: 'Warning',
        reason: EventReasons.busyAdmitted,
        message: `admitted creates of ${kind} that enforce would refuse (warn mode): ${key} is held by ${holderName(d.holder)}, so the key has more than one object`,
      };
    case 'allowed-takeover':
      if (d?.kind !== 'takeover') return undefined;
      return {
        regarding,
        type: NOTABLE_TAKEOVERS.has(d.reason) ? 'Warning' : 'Normal',
        reason: EventReasons.takenOver,
        message: `${kind} ${printable(f.object())} ${takeoverPhrase(f.rule, f.key, d.previous, d.reason)}`,
      };
    default:
      return undefined;
  }
}
