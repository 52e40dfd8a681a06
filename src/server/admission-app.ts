// The koa application behind the HTTPS port: admission endpoints and probes. HTTP only:
// bad input is answered with a 4xx JSON error and logged, and never reaches the lock
// logic; each decision is recorded by admission/decision-recorder.ts.
import Router from '@koa/router';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { MutatingWebhook } from '../admission/mutating-webhook.js';
import type { DecisionRecorder } from '../admission/decision-recorder.js';
import { parseAdmissionReview, review, type AdmissionRequest } from '../admission/review.js';
import type { ValidatingWebhook } from '../admission/validating-webhook.js';
import { ErrorCodes, LeaseguardError, badRequest } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { DeadlineSignals } from './deadline-signals.js';
import { readBody } from './read-body.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../core/json-depth.js';
import type { TLSSocket } from 'node:tls';
import { printable } from '../core/printable.js';
import { checkCaller, pinPeerFacts, type CallerPolicy } from './caller-auth.js';
import type { Readiness } from '../readiness.js';

/**
 * The default bound on an AdmissionReview body (maxReviewBytes). A kubernaut
 * WorkflowExecution or RemediationRequest is a few KiB; a review carries it twice at
 * most (object and, for an UPDATE, oldObject), so 256 KiB leaves ample room while keeping
 * the parse of a hostile body (many keys) to milliseconds, not the 0.4 s of 3 MiB.
 */
export const DEFAULT_MAX_REVIEW_BYTES = 256 * 1024;

export interface AdmissionAppOptions {
  validating: ValidatingWebhook;
  mutating: MutatingWebhook;
  metrics: Metrics;
  logger: Logger;
  readiness: Readiness;
  /** Records each decision: metrics, logs, Events, audit annotations. */
  record: DecisionRecorder;
  /** Every admission is answered within this many milliseconds of its arrival. */
  deadlineMs: number;
  /** A larger body is refused with 413 before it is parsed (default DEFAULT_MAX_REVIEW_BYTES). */
  maxBodyBytes?: number;
  /**
   * Set when a client CA is configured: only callers presenting a certificate it signed
   * (with one of `subjects`, when any) reach /validate and /mutate.
   */
  callers?: CallerPolicy;
}

const JSON_TYPE = /^application\/json\s*(;|$)/i;

async function readReview(ctx: Koa.Context, maxBytes: number): Promise<AdmissionRequest> {
  if (!JSON_TYPE.test(ctx.get('content-type'))) {
    throw badRequest(
      415,
      `Content-Type must be application/json, got ${JSON.stringify(ctx.get('content-type') || null)}`,
    );
  }
  const raw = await readBody(ctx.req, maxBytes);
  if (nestsDeeperThan(raw, MAX_JSON_DEPTH)) {
    throw badRequest(400, `body nests deeper than ${MAX_JSON_DEPTH} levels, which the API server never sends`);
  }
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw badRequest(400, `body is not valid JSON: ${(err as Error).message}`);
  }
  return parseAdmissionReview(body);
}

function sendError(ctx: Koa.Context, status: number, code: string, message: string): void {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = { error: { code, message } };
}

export function createAdmissionApp(o: AdmissionAppOptions): Koa {
  const app = new Koa();
  const router = new Router();
  const { metrics, logger } = o;
  const deadlines = new DeadlineSignals(o.deadlineMs);
  const maxBodyBytes = o.maxBodyBytes ?? DEFAULT_MAX_REVIEW_BYTES;
  /** When the request arrived (its headers read): its deadline, and its latency, count from here. */
  const arrivedAt = (ctx: Koa.Context): number => (ctx.state.arrivedAt as number | undefined) ?? deadlines.now();

  app.use(async (ctx, next) => {
    ctx.state.arrivedAt = deadlines.now();
    try {
      await next();
    } catch (err) {
      if (err instanceof LeaseguardError && err.code === ErrorCodes.BAD_REQUEST) {
        metrics.badRequests.inc({ reason: String(err.statusCode) });
        logger.warn(
          { path: ctx.path, method: ctx.method, status: err.statusCode, remote: ctx.ip, reason: err.message },
          'bad admission request',
        );
        sendError(ctx, err.statusCode, err.code, err.message);
        if (err.statusCode === 413) ctx.set('Connection', 'close');
        return;
      }
      logger.error({ err, path: ctx.path }, 'unhandled error answering a request');
      sendError(ctx, 500, 'LG_INTERNAL', 'internal error; see leaseguard logs');
    }
  });

  const onlyPost = async (ctx: Koa.Context, next: Koa.Next) => {
    if (ctx.method !== 'POST') {
      ctx.set('Allow', 'POST');
      throw badRequest(
        405,
        `${ctx.method} is not allowed on ${ctx.path}; the API server sends AdmissionReviews with POST`,
      );
    }
    await next();
  };

  // Before the body is read: a refused caller causes no read and no write.
  const onlyApiServer = async (ctx: Koa.Context, next: Koa.Next) => {
    const check = o.callers ? checkCaller(pinPeerFacts(ctx.req.socket as TLSSocket), o.callers) : undefined;
    if (!check || check.ok) {
      await next();
      return;
    }
    metrics.callersRefused.inc({ reason: check.reason });
    logger.warn(
      {
        path: ctx.path,
        remote: ctx.req.socket.remoteAddress,
        reason: check.reason,
        ...(check.subject ? { subject: printable(check.subject) } : {}),
      },
      'admission caller refused: not the API server',
    );
    const status = check.reason === 'subject-not-allowed' ? 403 : 401;
    sendError(
      ctx,
      status,
      status === 403 ? ErrorCodes.CALLER_FORBIDDEN : ErrorCodes.CALLER_UNAUTHENTICATED,
      check.detail,
    );
    ctx.set('Connection', 'close');
  };

  // An unready replica is leaving the endpoints (cut off from the API server, or stopping):
  // each answer asks the caller to reconnect, so its next call goes through the Service to
  // a ready replica instead of staying on a kept-alive connection to this one. Read after
  // the answer, so the admission that found the API server unreachable closes its own.
  const reconnectWhileUnready = async (ctx: Koa.Context, next: Koa.Next) => {
    await next();
    if (!o.readiness.ready()) ctx.set('Connection', 'close');
  };

  router.all('/validate', onlyApiServer, onlyPost, reconnectWhileUnready, async (ctx) => {
    const started = arrivedAt(ctx);
    const req = await readReview(ctx, maxBodyBytes);
    const result = await o.validating.review(req, deadlines.next(started));
    ctx.type = 'application/json';
    ctx.body = review(o.record.validated(req, result, (deadlines.now() - started) / 1000));
  });

  router.all('/mutate', onlyApiServer, onlyPost, reconnectWhileUnready, async (ctx) => {
    const started = arrivedAt(ctx);
    const req = await readReview(ctx, maxBodyBytes);
    const result = o.mutating.review(req);
    ctx.type = 'application/json';
    ctx.body = review(o.record.mutated(req, result, (deadlines.now() - started) / 1000));
  });

  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  router.get('/readyz', (ctx) => {
    const state = o.readiness.state();
    ctx.status = state.ready ? 200 : 503;
    ctx.body = state;
  });

  app.use(router.routes());
  app.use(async (ctx) => {
    sendError(
      ctx,
      404,
      'LG_NOT_FOUND',
      `no route ${ctx.method} ${ctx.path}; admission endpoints are POST /validate and POST /mutate`,
    );
  });
  // koa logs errors it catches itself (socket errors after a reply); keep them in our logger.
  app.silent = true;
  app.on('error', (err: Error) => logger.debug({ err: err.message }, 'connection error'));
  return app;
}
