// The pure part of `leaseguard selftest`: the probe it sends and how it reads the answer.
//
// The probe is a guarded object whose lock key is the empty string. A CRD schema that
// types the key as a string accepts it, and leaseguard always refuses it (422 Invalid,
// a cause naming the key's field), before any Lease is read. Dry runs write nothing, so
// a free key would be admitted with or without leaseguard; only a refusal that the API
// server attributes to leaseguard's webhook proves leaseguard answered.
import type { GuardRule } from '../core/rules.js';

/** The validating webhook's name in webhook/validating-webhook.yaml and the chart. */
export const VALIDATING_WEBHOOK = 'validate.leaseguard.kubernaut.ai';

export const PROBE_NAME_PREFIX = 'leaseguard-selftest-';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The dry-run object: `base` (the fields its CRD requires besides the key), with an empty key. */
export function probeObject(rule: GuardRule, namespace: string, base: Json = {}): Json {
  const probe: Json = structuredClone(base);
  probe.apiVersion = `${rule.group}/${rule.version}`;
  probe.kind = rule.kind;
  const metadata = isObject(probe.metadata) ? probe.metadata : {};
  delete metadata.name;
  probe.metadata = { ...metadata, generateName: PROBE_NAME_PREFIX, namespace };
  let cur = probe;
  const parts = rule.keyPath.split('.');
  for (const part of parts.slice(0, -1)) {
    if (!isObject(cur[part])) cur[part] = {};
    cur = cur[part] as Json;
  }
  cur[parts[parts.length - 1]!] = '';
  return probe;
}

export interface ProbeResponse {
  status: number;
  /** Response headers, lower-case names, repeated ones joined with ", ". */
  headers: Record<string, string>;
  body: string;
}

export type Verdict =
  /** leaseguard refused the probe (enforce), or admitted it with its warning (warn, dryrun). */
  { ok: true; how: 'refused' | 'warned'; message: string } | { ok: false; message: string };

function statusOf(body: string): { message: string; reason: string; code: number; causes: Array<{ field?: unknown }> } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  const s = isObject(parsed) ? parsed : {};
  const details = isObject(s.details) ? s.details : {};
  return {
    message: typeof s.message === 'string' ? s.message : body.slice(0, 500),
    reason: typeof s.reason === 'string' ? s.reason : '',
    code: typeof s.code === 'number' ? s.code : 0,
    causes: Array.isArray(details.causes) ? details.causes.filter(isObject) : [],
  };
}

/** Whether the answer to the probe came from leaseguard, and what it said. */
export function readVerdict(res: ProbeResponse, rule: GuardRule, namespace: string): Verdict {
  const what = `${rule.kind} (${rule.resource}.${rule.group}) in namespace ${namespace}`;
  if (res.status >= 200 && res.status < 300) {
    // warn and dryrun modes admit what enforce refuses, and say so in a warning.
    const warning = res.headers.warning ?? '';
    if (
      warning.includes(`mode for ${rule.kind}): enforce would refuse this:`) &&
      warning.includes(`${rule.keyPath} must not be empty`)
    ) {
      return {
        ok: true,
        how: 'warned',
        message: `leaseguard admitted the probe with its warning (the rule is not in enforce mode): ${warning}`,
      };
    }
    return {
      ok: false,
      message:
        `the dry-run create of ${what} with an empty ${rule.keyPath} was admitted: leaseguard never saw it. ` +
        `Is the ValidatingWebhookConfiguration registered for ${rule.resource}.${rule.group}, and does its namespaceSelector reach ${namespace}?`,
    };
  }
  const s = statusOf(res.body);
  const deniedBy = `admission webhook "${VALIDATING_WEBHOOK}" denied the request: `;
  if (s.message.startsWith(deniedBy)) {
    if (res.status === 422 && s.reason === 'Invalid' && s.causes.some((c) => c.field === rule.keyPath)) {
      return { ok: true, how: 'refused', message: s.message };
    }
    return {
      ok: false,
      message: `leaseguard answered, but not with the refusal of an empty key (HTTP ${res.status} ${s.reason}): ${s.message}`,
    };
  }
  if (s.message.includes(`failed calling webhook "${VALIDATING_WEBHOOK}"`)) {
    return { ok: false, message: `the API server could not get an answer from leaseguard: ${s.message}` };
  }
  if (res.status === 401 || (res.status === 403 && !s.message.includes('admission webhook'))) {
    return { ok: false, message: `not allowed to create ${what} (even a dry run needs create): ${s.message}` };
  }
  if (res.status === 404)
    return {
      ok: false,
      message: `${rule.resource}.${rule.group}/${rule.version} is not served: is its CRD installed? ${s.message}`,
    };
  if (res.status === 422 || res.status === 400) {
    return {
      ok: false,
      message: `the probe was refused before leaseguard saw it (the CRD's schema?): ${s.message}. Give the fields the CRD requires besides the key with --object`,
    };
  }
  return {
    ok: false,
    message: `unexpected answer to the dry-run create of ${what} (HTTP ${res.status}): ${s.message}`,
  };
}
