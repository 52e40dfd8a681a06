// `why`: what a create of this object would meet, explained for a person. Pure: it asks
// the lock decision itself (core/decide.ts) with the Lease and the holder as read, so the
// explanation cannot drift from what admission decides. The one difference is the age:
// admission measures it on each replica's own clock from its first sight of the lock,
// which a command line cannot know, so ages here come from the Lease's acquireTime by
// this machine's clock, and are said to be estimates.
import { formatAge, holderPhrase, keyNoun, namespaceMessage } from '../admission/messages.js';
import type { HolderState } from '../core/holder.js';
import { decide, type TakeoverReason } from '../core/decide.js';
import { objectLabel, type LockLease, type ObjectRef } from '../core/lock-record.js';
import { printable, quoted } from '../core/printable.js';
import { namespaceAllowed, type GuardRule, type KeyResult } from '../core/rules.js';

export type WhyVerdict = 'invalid' | 'namespace' | 'free' | 'holds' | 'blocked' | 'pending' | 'stale' | 'foreign';

export interface WhyInput {
  rule: GuardRule;
  object: ObjectRef;
  /** Whether the object was read from the API server (stored) or given as a manifest. */
  stored: boolean;
  key: KeyResult;
  /** `namespace/name` of the Lease the key maps to. */
  leaseRef: string;
  lease: LockLease | null;
  /** The object at the holder's name, read live (undefined when no read was needed). */
  holder?: HolderState;
  now: Date;
  pendingTimeoutSeconds: number;
}

export interface WhyAnswer {
  verdict: WhyVerdict;
  /** For people, one sentence a line. */
  lines: string[];
  key?: string;
  lease?: string;
  holder?: string;
  since?: string;
  takeover?: TakeoverReason;
}

const TAKEOVER_TEXT: Record<TakeoverReason, string> = {
  'holder-gone': 'its holder was deleted',
  'holder-terminal': 'its holder has finished',
  'holder-mismatch': "the object at the holder's name has another key or UID, so it holds nothing",
  'pending-expired': 'its holder was never stored within the pending timeout',
  expired: 'it expired',
  'max-hold-exceeded': 'its holder has held it past maxHoldSeconds',
};

/** The holder's state in words: `phase Running`, `not stored`, ... */
function holderState(h: HolderState | undefined): string {
  if (!h) return 'not read';
  if (h.kind === 'gone') return 'not stored (not found)';
  if (h.kind === 'unverifiable') return 'unknown';
  return `phase ${h.phase ? printable(h.phase) : '(none yet)'}`;
}

export function explain(i: WhyInput): WhyAnswer {
  const answer = decideAnswer(i);
  if (i.stored && (answer.verdict === 'blocked' || answer.verdict === 'pending')) {
    answer.lines.push(
      `${printable(i.rule.kind.toLowerCase())} ${printable(objectLabel(i.object))} is stored without holding the lock: it was admitted without it (a rule in warn mode, fail-open, or leaseguard bypassed), and the duplicate monitor counts it.`,
    );
  }
  return answer;
}

function decideAnswer(i: WhyInput): WhyAnswer {
  const what = `${printable(i.rule.kind.toLowerCase())} ${printable(objectLabel(i.object))}`;
  // As admission decides: where the kind may not be created, nothing else is looked at.
  if (!i.stored && !namespaceAllowed(i.rule, i.object.namespace)) {
    const key = i.key.ok ? { key: i.key.key, lease: i.leaseRef } : {};
    return {
      verdict: 'namespace',
      lines: [`A create of ${what} is refused with 403 Forbidden: ${namespaceMessage(i.rule, i.object.namespace)}.`],
      ...key,
    };
  }
  if (!i.key.ok) {
    return {
      verdict: 'invalid',
      lines: [
        `${what} has no valid lock key: ${printable(i.key.message)}.`,
        'A create of it is refused with 422 Invalid; fix the object.',
      ],
    };
  }
  const noun = `${keyNoun(i.rule)} ${quoted(i.key.key)}`;
  const base = { key: i.key.key, lease: i.leaseRef };
  if (!i.lease) {
    const lines = [`No lock is held for ${noun} (no Lease ${i.leaseRef}).`];
    lines.push(
      i.stored
        ? `${what} is stored, but holds no lock now (it was released, or created while leaseguard was not guarding it).`
        : 'A create of it would take the lock and be admitted.',
    );
    return { verdict: 'free', lines, ...base };
  }
  if (i.lease.unsupportedFormat !== undefined) {
    return {
      verdict: 'foreign',
      lines: [
        `The Lease ${i.leaseRef} for ${noun} is in format ${i.lease.unsupportedFormat}, written by a later leaseguard: this version cannot read it.`,
        'Replicas that cannot read it refuse creates of this key with 500 InternalError; ask with the leaseguard that wrote it.',
      ],
      ...base,
    };
  }
  const held = i.lease.record;
  const ageMs = held ? Math.max(0, i.now.getTime() - held.acquiredAt.getTime()) : 0;
  const decision = decide({
    request: { key: i.key.scopedKey, object: i.object, requester: { username: '' } },
    lease: i.lease,
    ...(i.holder ? { holder: i.holder } : {}),
    now: i.now,
    ageMs,
    pendingTimeoutMs: i.pendingTimeoutSeconds * 1000,
    ...(i.rule.maxHoldSeconds ? { maxHoldMs: i.rule.maxHoldSeconds * 1000 } : {}),
  });
  if (decision.action === 'deny-foreign' || !held) {
    return {
      verdict: 'foreign',
      lines: [
        `The Lease ${i.leaseRef} for ${noun} records ${decision.action === 'deny-foreign' && decision.recordedKey !== undefined ? `key ${quoted(decision.recordedKey)}` : 'no readable lock'}: it is not this lock.`,
        `Creates are refused with 500 InternalError until it is removed; inspect it with: kubectl -n ${i.leaseRef.split('/')[0]} get lease ${i.leaseRef.split('/')[1]} -o yaml`,
      ],
      ...base,
    };
  }
  const since = `since ${held.acquiredAt.toISOString()} (${formatAge(ageMs)} ago by this machine's clock)`;
  const who = { holder: objectLabel(held.object), since: held.acquiredAt.toISOString() };
  const heldBy = `Lease ${i.leaseRef} holds ${noun} for ${holderPhrase(held)}, ${since}`;
  switch (decision.action) {
    case 'retry':
    case 'create':
      return {
        verdict: 'holds',
        lines: [
          `${what} holds the lock on ${noun} itself: ${heldBy}.`,
          'Other creates for this key are refused until it finishes or is deleted.',
        ],
        ...base,
        ...who,
      };
    case 'read-holder':
      // decide() asks for the holder only when it has not been read: the caller reads it.
      throw new Error('explain needs the holder read first');
    case 'take-over':
      return {
        verdict: 'stale',
        lines: [
          `${heldBy}; holder ${holderState(i.holder)}.`,
          `The lock is stale: ${TAKEOVER_TEXT[decision.reason]}. The next create for this key takes it over and is admitted; the leader also releases it at its next sweep.`,
        ],
        ...base,
        ...who,
        takeover: decision.reason,
      };
    case 'deny-busy': {
      if (held.state === 'pending' && (!i.holder || i.holder.kind === 'gone')) {
        const left = Math.max(0, i.pendingTimeoutSeconds * 1000 - ageMs);
        return {
          verdict: 'pending',
          lines: [
            `${what} is blocked: ${heldBy}.`,
            `That holder is not stored: its create may still be in flight, or a later admission step refused it after leaseguard admitted it, so the lock is pending.`,
            `It is reclaimed once pendingTimeoutSeconds (${i.pendingTimeoutSeconds}s) has passed as leaseguard's replicas measure it from their first sight of the lock: about ${formatAge(left)} from now, later if a replica saw it late.`,
          ],
          ...base,
          ...who,
        };
      }
      const terminal = i.rule.terminalPhases.map((p) => printable(p)).join(' or ');
      const maxHold = i.rule.maxHoldSeconds
        ? ` It is taken over once held longer than maxHoldSeconds (${i.rule.maxHoldSeconds}s).`
        : '';
      return {
        verdict: 'blocked',
        lines: [
          `${what} is blocked: ${heldBy}; holder ${holderState(i.holder)}.`,
          `The lock frees when ${printable(objectLabel(held.object))} reaches ${i.rule.phasePath} ${terminal}, or is deleted.${maxHold} Creates meanwhile get 409 Conflict.`,
        ],
        ...base,
        ...who,
      };
    }
  }
}
