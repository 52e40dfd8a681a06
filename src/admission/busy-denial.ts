// The busy denial (409 Conflict), shaped for clients to code against; docs/denials.md is
// its contract. Details name the holder (group, kind, name, uid), causes carry what
// StatusDetails has no field for (the holder's namespace, a pending holder's deadline).
// A requester in another namespace than the holder learns that the key is taken and a
// pending holder's timing, never which object holds it, whose it is, or from where.
import { objectLabel, type LockRecord } from '../core/lock-record.js';
import { printable, quoted } from '../core/printable.js';
import type { GuardRule } from '../core/rules.js';
import { busyMessage, HIDDEN_HOLDER, hiddenBusyMessage, keyNoun } from './messages.js';
import type { AdmissionStatus, StatusCause } from './review.js';

/** `status.details.causes[].reason` of a busy denial (the cause type; Go's StatusCause.Type). */
export const BusyCauses = {
  /** On the key's field: the key is taken. */
  key: 'FieldValueDuplicate',
  /** The holder as `namespace/name` (same namespace only). */
  holder: 'LockHolder',
  /** The lock's Lease as `namespace/name`. */
  lease: 'LockLease',
  /** The holder's namespace, on `metadata.namespace` (same namespace, namespaced holders). */
  holderNamespace: 'LockHolderNamespace',
  /** The holder is in another namespace and is not named. */
  holderHidden: 'LockHolderHidden',
  /** The holder may not be stored yet; the message is when its pending window ends (RFC 3339). */
  pending: 'LockPending',
} as const;

export interface BusyFacts {
  rule: GuardRule;
  /** The key as the refused object carries it. */
  key: string;
  holder: LockRecord;
  /** Since the holder's recorded request, for people. */
  ageMs: number;
  /** The Lease as `namespace/name`. */
  lease: string;
  /** The refused object's namespace ('' when cluster-scoped). */
  requestNamespace: string;
  pending?: { retryAfterSeconds: number; until: Date };
}

/** RFC 3339 in whole seconds, rounded up (a client waiting until then never waits too little). */
export function rfc3339Seconds(d: Date): string {
  return new Date(Math.ceil(d.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

export function busyStatus(f: BusyFacts): AdmissionStatus {
  const h = f.holder.object;
  const until = f.pending ? rfc3339Seconds(f.pending.until) : undefined;
  const noun = `${keyNoun(f.rule)} ${quoted(f.key)}`;
  const lease: StatusCause = { reason: BusyCauses.lease, field: 'metadata.annotations', message: f.lease };
  const pending: StatusCause[] = until ? [{ reason: BusyCauses.pending, message: until }] : [];
  const retry = f.pending ? { retryAfterSeconds: f.pending.retryAfterSeconds } : {};
  if (h.namespace !== f.requestNamespace) {
    return {
      code: 409,
      reason: 'Conflict',
      message: hiddenBusyMessage(f.rule, f.key, until),
      details: {
        group: h.group,
        kind: h.kind,
        causes: [
          { reason: BusyCauses.key, field: f.rule.keyPath, message: `${noun} is held by ${HIDDEN_HOLDER}` },
          {
            reason: BusyCauses.holderHidden,
            field: 'metadata.namespace',
            message: 'the holder is in another namespace',
          },
          lease,
          ...pending,
        ],
        ...retry,
      },
    };
  }
  const label = printable(objectLabel(h));
  return {
    code: 409,
    reason: 'Conflict',
    message: busyMessage(f.rule, f.key, f.holder, f.ageMs, until),
    details: {
      group: h.group,
      kind: h.kind,
      name: h.name,
      ...(h.uid ? { uid: h.uid } : {}),
      causes: [
        { reason: BusyCauses.key, field: f.rule.keyPath, message: `${noun} is held by ${label}` },
        { reason: BusyCauses.holder, field: 'metadata.name', message: label },
        lease,
        ...(h.namespace
          ? [{ reason: BusyCauses.holderNamespace, field: 'metadata.namespace', message: h.namespace }]
          : []),
        ...pending,
      ],
      ...retry,
    },
  };
}
