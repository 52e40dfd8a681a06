// The record of each admission decision, apart from the HTTP that carries it: metrics,
// the log entry, the Event a decision is worth, and the audit annotations the API server
// writes into its audit log. Reads the typed result the webhooks return.
import type { Logger } from 'pino';
import { objectLabel } from '../core/lock-record.js';
import type { EventRecorder } from '../kube/event-recorder.js';
import type { Metrics } from '../metrics.js';
import { auditAnnotations } from './audit-annotations.js';
import { decisionEvent } from './decision-events.js';
import type { MutationResult } from './mutating-webhook.js';
import { RepeatLimiter } from './repeat-limiter.js';
import type { AdmissionRequest, AdmissionResponse } from './review.js';
import {
  requesterOf,
  type DecisionDetail,
  type ValidationDecision,
  type ValidationResult,
} from './validating-webhook.js';

export interface DecisionRecorderOptions {
  metrics: Metrics;
  logger: Logger;
  /** Where busy denials and take-overs go as Kubernetes Events (aggregated by the recorder). */
  events: EventRecorder;
  /** The `kind` label for a request: a guarded kind's name, else `other` (labels never come from request input). */
  kindLabel: (group: string, kind: string) => string;
}

/** `namespace/name` of the object under review, for logs (`generateName*` before it has a name). */
export function reviewedObject(req: AdmissionRequest): string {
  const md = (req.object?.metadata ?? req.oldObject?.metadata ?? {}) as Record<string, unknown>;
  const name =
    req.name ||
    (typeof md.name === 'string' ? md.name : '') ||
    (typeof md.generateName === 'string' ? `${md.generateName}*` : '');
  const ns = req.namespace || (typeof md.namespace === 'string' ? md.namespace : '');
  return ns ? `${ns}/${name}` : name;
}

/** The log entry's fields for what a decision was made on. */
export function detailFields(detail: DecisionDetail | undefined): Record<string, unknown> {
  switch (detail?.kind) {
    case undefined:
      return {};
    case 'busy':
      return {
        holder: objectLabel(detail.holder.object),
        holderUid: detail.holder.object.uid,
        holderState: detail.pending ? 'pending' : 'bound',
      };
    case 'takeover':
      return {
        takeover: detail.reason,
        previousHolder: objectLabel(detail.previous.object),
        previousRequester: detail.previous.requester.username,
      };
    case 'unverifiable':
      return { error: detail.code, cause: detail.cause };
    case 'internal':
      return { error: detail.error };
  }
}

/**
 * leaseguard's own log keeps failures and fail-open admits at warn, denials and take-overs
 * at info, and plain admits at debug, so the common case builds no entry unless debug is
 * on. (The API server's audit log has every decision: auditAnnotations.)
 */
function logLevel(decision: ValidationDecision): 'warn' | 'info' | 'debug' {
  if (decision === 'denied-unavailable' || decision === 'denied-internal' || decision === 'allowed-fail-open')
    return 'warn';
  return decision === 'allowed' || decision === 'allowed-retry' || decision === 'passed' ? 'debug' : 'info';
}

export class DecisionRecorder {
  readonly #o: DecisionRecorderOptions;
  readonly #repeats = new RepeatLimiter();

  constructor(options: DecisionRecorderOptions) {
    this.#o = options;
  }

  /** Records a validating decision taken in `seconds`; answers the response to send (with its audit annotations). */
  validated(req: AdmissionRequest, result: ValidationResult, seconds: number): AdmissionResponse {
    const { logger } = this.#o;
    const kind = result.rule?.kind ?? this.#o.kindLabel(req.kind.group, req.kind.kind);
    this.#count('validate', kind, req, result.decision, seconds);
    // A busy denial is logged once per lock per second (with the count left out since);
    // a retry storm is what leaseguard exists for, and it should not flood the logs.
    const left =
      result.decision === 'denied-busy' || result.decision === 'warned-busy'
        ? this.#repeats.take(result.lease ?? '', Date.now())
        : 0;
    const level = logLevel(result.decision);
    if ((result.decision !== 'passed' || result.rule) && left !== undefined && logger.isLevelEnabled(level)) {
      const entry = {
        uid: req.uid,
        webhook: 'validate',
        kind,
        operation: req.operation,
        object: reviewedObject(req),
        key: result.key,
        lease: result.lease,
        requester: requesterOf(req),
        dryRun: req.dryRun,
        decision: result.decision,
        ms: Math.round(seconds * 1e4) / 10,
        ...detailFields(result.detail),
        ...(left > 0 ? { busyDenialsNotLogged: left } : {}),
      };
      logger[level](entry, 'admission');
    }
    const event = decisionEvent({ ...result, object: () => reviewedObject(req), dryRun: req.dryRun });
    if (event) this.#o.events.record(event);
    const annotations = auditAnnotations(result);
    return annotations ? { ...result.response, auditAnnotations: annotations } : result.response;
  }

  /** Records a mutating decision taken in `seconds`; answers the response to send. */
  mutated(req: AdmissionRequest, result: MutationResult, seconds: number): AdmissionResponse {
    const kind = this.#o.kindLabel(req.kind.group, req.kind.kind);
    this.#count('mutate', kind, req, result.decision, seconds);
    if (result.decision === 'stamped') {
      this.#o.logger.debug(
        { uid: req.uid, webhook: 'mutate', kind, object: reviewedObject(req), key: result.key },
        'admission',
      );
    }
    return result.response;
  }

  #count(webhook: 'validate' | 'mutate', kind: string, req: AdmissionRequest, decision: string, seconds: number): void {
    this.#o.metrics.admissionRequests.inc({ webhook, kind, operation: req.operation, decision });
    this.#o.metrics.admissionDuration.observe({ webhook, kind, decision }, seconds);
  }
}
