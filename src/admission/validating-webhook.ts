// The validating webhook: on CREATE of a guarded kind, take the lock or deny; on UPDATE,
// refuse a changed key, and take the lock (or deny) for a keyless object gaining a key.
// leaseguard's annotations are its own: a CREATE may carry only the stamp an installation
// writes for its lock, and an UPDATE may not change them. Everything else passes untouched.
import type { Logger } from 'pino';
import type { LockRequest, TakeoverReason } from '../core/decide.js';
import { LeaseNames } from '../core/lease-name.js';
import type { LockRecord, ObjectRef } from '../core/lock-record.js';
import { printable, quoted } from '../core/printable.js';
import { deriveKey, namespaceAllowed, updateEffect, type GuardRule, type RuleIndex } from '../core/rules.js';
import { createStampProblem, stampsOf, updateStampProblem } from '../core/stamps.js';
import { ErrorCodes, hasCode, isUnverifiable, type ErrorCode } from '../errors.js';
import type { LockService } from '../lock/lock-service.js';
import type { Metrics } from '../metrics.js';
import { busyStatus } from './busy-denial.js';
import {
  failOpenWarning,
  foreignLeaseMessage,
  fullMessage,
  keyNoun,
  namespaceMessage,
  takeoverWarning,
  unavailableMessage,
} from './messages.js';
import { allow, deny, type AdmissionRequest, type AdmissionResponse } from './review.js';

export const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';

/**
 * The `reason` label of lock_failures_total for each failure that leaves a lock
 * unverified. `lease-rejected` (the API server refused the Lease leaseguard wrote) is a
 * failure; `invalid` is kept for a CREATE whose own key is invalid, which alerts leave out.
 */
const FAILURE_REASONS: Partial<Record<ErrorCode, string>> = {
  [ErrorCodes.STORE_UNAVAILABLE]: 'unavailable',
  [ErrorCodes.STORE_FORBIDDEN]: 'forbidden',
  [ErrorCodes.STORE_TIMEOUT]: 'timeout',
  [ErrorCodes.STORE_INVALID]: 'lease-rejected',
  [ErrorCodes.LOCK_CONTENDED]: 'contended',
  [ErrorCodes.STORE_FULL]: 'full',
};

/** What enforce refuses; a rule in warn or dryrun mode admits it as `warned-<refusal>`. */
type Refusal =
  'busy' | 'invalid' | 'key-changed' | 'annotation' | 'namespace' | 'unavailable' | 'internal' | 'foreign-lease';

/** The decision label in metrics and logs. */
export type ValidationDecision =
  | 'allowed'
  | 'allowed-retry'
  | 'allowed-takeover'
  | 'allowed-fail-open'
  | 'denied-busy'
  | 'denied-invalid'
  | 'denied-key-changed'
  /** A CREATE carrying another stamp than leaseguard writes, or an UPDATE changing leaseguard's annotations. */
  | 'denied-annotation'
  /** A guarded kind created (or given a key) outside the namespaces its rule allows. */
  | 'denied-namespace'
  /** The lock could not be verified: the API server failed, refused, or is out of room. */
  | 'denied-unavailable'
  /** A bug in leaseguard, not an outage: refused, never admitted under failOpen. */
  | 'denied-internal'
  | 'denied-foreign-lease'
  /** A rule in warn or dryrun mode admitted what enforce would have refused. */
  | `warned-${Refusal}`
  | 'passed';

export interface ValidationResult {
  response: AdmissionResponse;
  decision: ValidationDecision;
  rule?: GuardRule;
  key?: string;
  lease?: string;
  /** The Lease's uid, where the decision read an existing Lease. */
  leaseUid?: string;
  /** What the decision was made on, where there is more than the key and the Lease. */
  detail?: DecisionDetail;
}

/** What a decision was made on: read by the decision record (logs, audit annotations, Events). */
export type DecisionDetail =
  /** Another object holds the key; `pending`: it may not be stored yet. */
  | { kind: 'busy'; holder: LockRecord; pending: boolean }
  /** The lock was taken over from `previous`. */
  | { kind: 'takeover'; previous: LockRecord; reason: TakeoverReason }
  /** The lock could not be verified (`code` from errors.ts). */
  | { kind: 'unverifiable'; code: ErrorCode; cause: string }
  /** A bug: what was thrown. */
  | { kind: 'internal'; error: string };

export interface ValidatingWebhookOptions {
  rules: RuleIndex;
  locks: LockService;
  metrics: Metrics;
  logger: Logger;
  /** Admit when the lock cannot be verified. Off by default: fail closed. */
  failOpen: boolean;
  /** Told of every failure that left a lock unverified (readiness follows the API server's reachability). */
  storeFailed?: (err: unknown) => void;
  /**
   * Lease namespaces of other installations (foreignLeaseNamespaces) whose stamps a CREATE
   * may carry besides this one's (the store's namespace).
   */
  foreignLeaseNamespaces?: readonly string[];
}

function metadataOf(object: Record<string, unknown> | null): { name: string; namespace: string; uid: string } {
  const md = (object?.metadata ?? {}) as Record<string, unknown>;
  const s = (v: unknown) => (typeof v === 'string' ? v : '');
  return { name: s(md.name), namespace: s(md.namespace), uid: s(md.uid) };
}

export function requesterOf(req: AdmissionRequest): LockRequest['requester'] {
  const pod = req.userInfo.extra?.[POD_NAME_EXTRA]?.[0];
  return pod ? { username: req.userInfo.username, pod } : { username: req.userInfo.username };
}

function invalid(
  req: AdmissionRequest,
  rule: GuardRule,
  field: string,
  message: string,
  type: string,
): AdmissionResponse {
  const name = req.name || metadataOf(req.object).name;
  return deny(req.uid, {
    code: 422,
    reason: 'Invalid',
    message: `${rule.kind}${name ? ` ${JSON.stringify(name)}` : ''} is invalid: ${message}`,
    details: {
      group: rule.group,
      kind: rule.kind,
      ...(name ? { name } : {}),
      causes: [{ reason: type, field, message }],
    },
  });
}

function invalidType(message: string): string {
  if (message.includes('is required') || message.includes('must not be empty')) return 'FieldValueRequired';
  if (message.includes('at most')) return 'FieldValueTooLong';
  return 'FieldValueInvalid';
}

/**
 * A rule in warn or dryrun mode admits what enforce would refuse, saying so in a warning
 * (kubectl prints it) and in the decision (metrics, audit annotations, logs).
 */
function rolledOut(rule: GuardRule, result: ValidationResult): ValidationResult {
  if (!rule.mode || rule.mode === 'enforce' || result.response.allowed) return result;
  const refused = result.decision.replace(/^denied-/, '') as Refusal;
  const message = result.response.status?.message ?? result.decision;
  return {
    ...result,
    response: allow(result.response.uid, {
      warnings: [`leaseguard (${rule.mode} mode for ${rule.kind}): enforce would refuse this: ${message}`],
    }),
    decision: `warned-${refused}`,
  };
}

export class ValidatingWebhook {
  readonly #o: ValidatingWebhookOptions;
  readonly #leaseNames = new LeaseNames();

  /** Whose stamps a CREATE may carry: this installation's Lease namespace, and the trusted others'. */
  readonly #installations: readonly string[];

  constructor(options: ValidatingWebhookOptions) {
    this.#o = options;
    this.#installations = [options.locks.store.namespace, ...(options.foreignLeaseNamespaces ?? [])];
  }

  async review(req: AdmissionRequest, signal?: AbortSignal): Promise<ValidationResult> {
    const rule = this.#o.rules.find(req.kind.group, req.kind.kind);
    if (!rule) return { response: allow(req.uid), decision: 'passed' };
    if (req.operation === 'CREATE') return rolledOut(rule, await this.#create(req, rule, signal));
    if (req.operation === 'UPDATE') return rolledOut(rule, await this.#update(req, rule, signal));
    return { response: allow(req.uid), decision: 'passed', rule };
  }

  /** A refusal of a leaseguard annotation a user set or changed. */
  #annotationRefused(
    req: AdmissionRequest,
    rule: GuardRule,
    name: string,
    why: string,
    key?: string,
  ): ValidationResult {
    const field = `metadata.annotations[${printable(name)}]`;
    const message = `${field} ${why}: leaseguard's annotations (leaseguard.kubernaut.ai/*) name an object's lock, and only leaseguard writes them`;
    return {
      response: invalid(req, rule, field, message, 'FieldValueForbidden'),
      decision: 'denied-annotation',
      rule,
      ...(key !== undefined ? { key } : {}),
    };
  }

  async #update(req: AdmissionRequest, rule: GuardRule, signal?: AbortSignal): Promise<ValidationResult> {
    const namespace = req.namespace || metadataOf(req.object).namespace;
    const changed = updateStampProblem(stampsOf(req.oldObject), stampsOf(req.object));
    if (changed !== undefined) return this.#annotationRefused(req, rule, changed, 'cannot be set, changed or removed');
    const before = deriveKey(rule, req.oldObject, namespace);
    const after = deriveKey(rule, req.object, namespace);
    const effect = updateEffect(before, after);
    if (effect === 'take-lock') return this.#create(req, rule, signal);
    // (A key change always has a key before: `!before.ok` only tells TypeScript so.)
    if (effect === 'none' || !before.ok)
      return { response: allow(req.uid), decision: 'passed', rule, ...(after.ok ? { key: after.key } : {}) };
    const now = after.ok ? JSON.stringify(after.key) : 'an invalid value';
    const message = `${rule.keyPath} is immutable: it is the lock key (was ${JSON.stringify(before.key)}, now ${now}); create a new ${rule.kind} instead`;
    return {
      response: invalid(req, rule, rule.keyPath, message, 'FieldValueForbidden'),
      decision: 'denied-key-changed',
      rule,
      key: before.key,
    };
  }

  async #create(req: AdmissionRequest, rule: GuardRule, signal?: AbortSignal): Promise<ValidationResult> {
    const { metrics } = this.#o;
    const kind = rule.kind;
    const md = metadataOf(req.object);
    const namespace = req.namespace || md.namespace;
    if (!req.object) {
      return {
        response: invalid(req, rule, 'object', 'the CREATE carries no object', 'FieldValueRequired'),
        decision: 'denied-invalid',
        rule,
      };
    }
    if (!namespaceAllowed(rule, namespace)) {
      const message = namespaceMessage(rule, namespace);
      const name = req.name || md.name;
      const response = deny(req.uid, {
        code: 403,
        reason: 'Forbidden',
        message,
        details: {
          group: rule.group,
          kind,
          ...(name ? { name } : {}),
          causes: [{ reason: 'FieldValueNotSupported', field: 'metadata.namespace', message }],
        },
      });
      return { response, decision: 'denied-namespace', rule };
    }
    const derived = deriveKey(rule, req.object, namespace);
    if (!derived.ok) {
      metrics.lockFailures.inc({ kind, reason: 'invalid' });
      return {
        response: invalid(req, rule, derived.field, derived.message, invalidType(derived.message)),
        decision: 'denied-invalid',
        rule,
      };
    }
    const object: ObjectRef = { group: rule.group, kind, namespace, name: req.name || md.name, uid: md.uid };
    const request: LockRequest = { key: derived.scopedKey, object, requester: requesterOf(req) };
    const lease = this.#leaseNames.of(rule, derived.scopedKey);
    const leaseRef = `${this.#o.locks.store.namespace}/${lease}`;
    // Mutating webhooks run first, so this installation's stamp (or a trusted one's) is here already.
    const stamped = createStampProblem(
      stampsOf(req.object),
      { lockKey: derived.scopedKey, leaseName: lease },
      this.#installations,
    );
    if (stamped !== undefined)
      return this.#annotationRefused(
        req,
        rule,
        stamped,
        'may only be the stamp leaseguard writes for this lock',
        derived.key,
      );
    const base = { rule, key: derived.key, lease: leaseRef };
    metrics.lockAttempts.inc({ kind });
    try {
      // dryrun mode decides as a server-side dry run does: nothing is written.
      const dryRun = req.dryRun || rule.mode === 'dryrun';
      const outcome = await this.#o.locks.acquire(rule, request, {
        dryRun,
        leaseName: lease,
        ...(signal ? { signal } : {}),
      });
      switch (outcome.verdict) {
        case 'allowed': {
          metrics.lockAcquired.inc({ kind, how: outcome.how });
          if (outcome.takeover) metrics.lockTakeovers.inc({ kind, reason: outcome.takeover });
          const decision =
            outcome.how === 'acquired' ? 'allowed' : outcome.how === 'retried' ? 'allowed-retry' : 'allowed-takeover';
          const warnings =
            outcome.previous && outcome.takeover
              ? [takeoverWarning(rule, derived.key, outcome.previous, outcome.takeover, namespace)]
              : undefined;
          const detail: DecisionDetail | undefined =
            outcome.previous && outcome.takeover
              ? { kind: 'takeover', previous: outcome.previous, reason: outcome.takeover }
              : undefined;
          return {
            response: allow(req.uid, warnings ? { warnings } : undefined),
            decision,
            ...base,
            ...(outcome.leaseUid ? { leaseUid: outcome.leaseUid } : {}),
            ...(detail ? { detail } : {}),
          };
        }
        case 'busy': {
          metrics.lockContention.inc({ kind });
          const status = busyStatus({
            rule,
            key: derived.key,
            holder: outcome.holder,
            ageMs: outcome.ageMs,
            lease: leaseRef,
            requestNamespace: namespace,
            ...(outcome.pending ? { pending: outcome.pending } : {}),
          });
          const response = deny(req.uid, status);
          return {
            response,
            decision: 'denied-busy',
            ...base,
            ...(outcome.leaseUid ? { leaseUid: outcome.leaseUid } : {}),
            detail: { kind: 'busy', holder: outcome.holder, pending: outcome.pending !== undefined },
          };
        }
        case 'foreign': {
          metrics.lockFailures.inc({ kind, reason: 'foreign-lease' });
          const message = foreignLeaseMessage(rule, derived.key, leaseRef, outcome.recordedKey);
          return {
            response: deny(req.uid, { code: 500, reason: 'InternalError', message }),
            decision: 'denied-foreign-lease',
            ...base,
          };
        }
      }
    } catch (err) {
      return this.#unverifiable(req, rule, derived.key, base, err);
    }
  }

  #unverifiable(
    req: AdmissionRequest,
    rule: GuardRule,
    key: string,
    base: Pick<ValidationResult, 'rule' | 'key' | 'lease'>,
    err: unknown,
  ): ValidationResult {
    if (hasCode(err, ErrorCodes.LEASE_FORMAT_UNSUPPORTED)) {
      // A Lease this version cannot read (a later one wrote it, mid-upgrade or after a
      // rollback): what it says about the lock is unknown, so never fail open on it.
      this.#o.metrics.lockFailures.inc({ kind: rule.kind, reason: 'lease-format' });
      const message = `${keyNoun(rule)} ${quoted(key)}: ${err.message}. The create was refused so that no duplicate can slip through`;
      return {
        response: deny(req.uid, { code: 500, reason: 'InternalError', message }),
        decision: 'denied-unavailable',
        ...base,
        detail: { kind: 'unverifiable', code: err.code, cause: err.message },
      };
    }
    if (!isUnverifiable(err)) {
      // A bug, not an outage: never fail open on it.
      this.#o.logger.error({ err, uid: req.uid }, 'unexpected error while deciding a lock');
      this.#o.metrics.lockFailures.inc({ kind: rule.kind, reason: 'internal' });
      const message = `leaseguard hit an internal error deciding the lock for ${keyNoun(rule)} ${quoted(key)}; the create was refused. See leaseguard's logs for uid ${req.uid}`;
      return {
        response: deny(req.uid, { code: 500, reason: 'InternalError', message }),
        decision: 'denied-internal',
        ...base,
        detail: { kind: 'internal', error: String(err) },
      };
    }
    this.#o.storeFailed?.(err);
    this.#o.metrics.lockFailures.inc({ kind: rule.kind, reason: FAILURE_REASONS[err.code] ?? err.code });
    const detail: DecisionDetail = { kind: 'unverifiable', code: err.code, cause: err.message };
    if (this.#o.failOpen) {
      return {
        response: allow(req.uid, { warnings: [failOpenWarning(rule, key, err.message)] }),
        decision: 'allowed-fail-open',
        ...base,
        detail,
      };
    }
    const message =
      err.code === ErrorCodes.STORE_FULL
        ? fullMessage(rule, key, err.message)
        : unavailableMessage(rule, key, err.message);
    return {
      response: deny(req.uid, { code: 503, reason: 'ServiceUnavailable', message }),
      decision: 'denied-unavailable',
      ...base,
      detail,
    };
  }
}
