// AdmissionReview admission.k8s.io/v1: parsing what the API server sends and shaping
// what we answer. Anything that is not a well-formed review is a BAD_REQUEST (HTTP 400).
import { badRequest } from '../errors.js';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
const OPERATIONS: ReadonlySet<string> = new Set(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface UserInfo {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  operation: Operation;
  name: string;
  namespace: string;
  userInfo: UserInfo;
  object: Record<string, unknown> | null;
  oldObject: Record<string, unknown> | null;
  dryRun: boolean;
}

/**
 * metav1.StatusCause. Its cause type is the JSON key `reason` (Go's field `Type`): the API
 * server decodes a webhook's Status into that struct and drops any other key.
 */
export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface AdmissionStatus {
  status?: 'Success' | 'Failure';
  code: number;
  reason: string;
  message: string;
  details?: {
    group?: string;
    kind?: string;
    name?: string;
    /** The named object's UID (StatusDetails.uid). */
    uid?: string;
    causes?: StatusCause[];
    retryAfterSeconds?: number;
  };
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: AdmissionStatus;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  /** Written by the API server into its audit log as "<webhook name>/<key>". */
  auditAnnotations?: Record<string, string>;
}

export interface AdmissionReviewOut {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function optionalString(obj: Record<string, unknown>, field: string, path: string): string {
  const v = obj[field];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw badRequest(400, `${path}.${field} must be a string`);
  return v;
}

function parseUserInfo(v: unknown): UserInfo {
  if (v === undefined || v === null) return { username: '' };
  if (!isRecord(v)) throw badRequest(400, 'request.userInfo must be an object');
  const username = optionalString(v, 'username', 'request.userInfo');
  const info: UserInfo = { username };
  const extra = v.extra;
  if (extra !== undefined && extra !== null) {
    if (!isRecord(extra)) throw badRequest(400, 'request.userInfo.extra must be an object of string arrays');
    const out: Record<string, string[]> = {};
    for (const [k, values] of Object.entries(extra)) {
      if (!Array.isArray(values) || !values.every((x) => typeof x === 'string')) {
        throw badRequest(400, `request.userInfo.extra["${k}"] must be an array of strings`);
      }
      out[k] = values;
    }
    info.extra = out;
  }
  return info;
}

function parseObject(v: unknown, field: string): Record<string, unknown> | null {
  if (v === undefined || v === null) return null;
  if (!isRecord(v)) throw badRequest(400, `request.${field} must be an object`);
  return v;
}

/** Validates an AdmissionReview v1 request body; throws BAD_REQUEST naming what is wrong. */
export function parseAdmissionReview(body: unknown): AdmissionRequest {
  if (!isRecord(body)) throw badRequest(400, 'body must be a JSON object (an AdmissionReview)');
  if (body.apiVersion !== 'admission.k8s.io/v1') {
    throw badRequest(
      400,
      `apiVersion must be "admission.k8s.io/v1", got ${JSON.stringify(body.apiVersion ?? null)}; register the webhook with admissionReviewVersions: ["v1"]`,
    );
  }
  if (body.kind !== 'AdmissionReview')
    throw badRequest(400, `kind must be "AdmissionReview", got ${JSON.stringify(body.kind ?? null)}`);
  const req = body.request;
  if (!isRecord(req))
    throw badRequest(400, 'request is missing: an AdmissionReview sent to a webhook carries a request');
  if (typeof req.uid !== 'string' || req.uid.length === 0)
    throw badRequest(400, 'request.uid must be a non-empty string');
  const kind = req.kind;
  if (
    !isRecord(kind) ||
    typeof kind.kind !== 'string' ||
    typeof kind.version !== 'string' ||
    (kind.group !== undefined && typeof kind.group !== 'string')
  ) {
    throw badRequest(400, 'request.kind must be {group, version, kind} strings');
  }
  if (typeof req.operation !== 'string' || !OPERATIONS.has(req.operation)) {
    throw badRequest(
      400,
      `request.operation must be one of CREATE, UPDATE, DELETE, CONNECT, got ${JSON.stringify(req.operation ?? null)}`,
    );
  }
  if (req.dryRun !== undefined && req.dryRun !== null && typeof req.dryRun !== 'boolean') {
    throw badRequest(400, 'request.dryRun must be a boolean');
  }
  return {
    uid: req.uid,
    kind: { group: typeof kind.group === 'string' ? kind.group : '', version: kind.version, kind: kind.kind },
    operation: req.operation as Operation,
    name: optionalString(req, 'name', 'request'),
    namespace: optionalString(req, 'namespace', 'request'),
    userInfo: parseUserInfo(req.userInfo),
    object: parseObject(req.object, 'object'),
    oldObject: parseObject(req.oldObject, 'oldObject'),
    dryRun: req.dryRun === true,
  };
}

export function review(response: AdmissionResponse): AdmissionReviewOut {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

export function allow(uid: string, extra: Omit<AdmissionResponse, 'uid' | 'allowed'> = {}): AdmissionResponse {
  return { uid, allowed: true, ...extra };
}

export function deny(uid: string, status: Omit<AdmissionStatus, 'status'>, warnings?: string[]): AdmissionResponse {
  return { uid, allowed: false, status: { status: 'Failure', ...status }, ...(warnings ? { warnings } : {}) };
}
