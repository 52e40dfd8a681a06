// Which kinds are guarded, how their lock key is read, and when an object is finished.
import { normalizeKey, type KeyNormalization } from './key-normalization.js';

export interface GuardRule {
  group: string;
  version: string;
  kind: string;
  /** Plural resource name, as in the API path and webhook rules. */
  resource: string;
  /** Dotted path of the lock key in the object, e.g. `spec.targetResource`. */
  keyPath: string;
  /** Dotted path of the phase, e.g. `status.phase`. */
  phasePath: string;
  /** Phases in which the object no longer holds its key. */
  terminalPhases: readonly string[];
  /** `namespace` prefixes the key with the object's namespace; `cluster` does not. */
  scope: 'cluster' | 'namespace';
  /** Optional upper bound on how long one object may hold its key, in seconds. */
  maxHoldSeconds?: number;
  /**
   * Namespaces where the kind may be created (and take a lock); `*` for all. Absent:
   * all (configuration always fills it in, from guardedNamespaces by default).
   */
  namespaces?: readonly string[];
  /**
   * Rollout mode: `enforce` (absent: the default) refuses; `warn` takes free locks as
   * enforce does but admits what enforce would refuse, with a warning; `dryrun` decides
   * and records but writes no Lease and refuses nothing.
   */
  mode?: RuleMode;
  /**
   * How keys compare (key-normalization.ts): `object-ref` makes `namespace/Kind/name`
   * keys compare with the Kind case-insensitive. Absent: exact strings.
   */
  normalize?: KeyNormalization;
}

export type RuleMode = 'enforce' | 'warn' | 'dryrun';

/**
 * Two hours: kubernaut's orchestrator ends every remediation within its global timeout
 * (one hour by default), so a kubernaut object still live after twice that is stuck, or
 * was made to pin its key; the next create for the key takes it over.
 */
export const KUBERNAUT_MAX_HOLD_SECONDS = 7200;

export const DEFAULT_RULES: readonly GuardRule[] = [
  {
    group: 'kubernaut.ai',
    version: 'v1alpha1',
    kind: 'WorkflowExecution',
    resource: 'workflowexecutions',
    keyPath: 'spec.targetResource',
    phasePath: 'status.phase',
    terminalPhases: ['Completed', 'Failed'],
    scope: 'cluster',
    maxHoldSeconds: KUBERNAUT_MAX_HOLD_SECONDS,
  },
  {
    group: 'kubernaut.ai',
    version: 'v1alpha1',
    kind: 'RemediationRequest',
    resource: 'remediationrequests',
    keyPath: 'spec.signalFingerprint',
    phasePath: 'status.overallPhase',
    terminalPhases: ['Completed', 'Failed', 'TimedOut', 'Skipped', 'Cancelled'],
    scope: 'cluster',
    maxHoldSeconds: KUBERNAUT_MAX_HOLD_SECONDS,
  },
];

/** Keys longer than this many UTF-8 bytes are refused. */
export const MAX_KEY_BYTES = 1024;

export interface RuleIndex {
  /** The rule for a group and kind, if that kind is guarded. */
  find(group: string, kind: string): GuardRule | undefined;
  readonly rules: readonly GuardRule[];
}

/** A rule's identity: one rule per group and kind. */
export const ruleId = (rule: Pick<GuardRule, 'group' | 'kind'>): string => `${rule.group}/${rule.kind}`;

export function indexRules(rules: readonly GuardRule[]): RuleIndex {
  const byKind = new Map(rules.map((r) => [ruleId(r), r]));
  return { rules, find: (group, kind) => byKind.get(ruleId({ group, kind })) };
}

/**
 * A rule index whose rules a reloaded configuration replaces (a rule's mode, hold limit,
 * namespaces). Readers look rules up per decision, so each decision sees one set whole.
 */
export class LiveRules implements RuleIndex {
  #index: RuleIndex;

  constructor(rules: readonly GuardRule[]) {
    this.#index = indexRules(rules);
  }

  get rules(): readonly GuardRule[] {
    return this.#index.rules;
  }

  find(group: string, kind: string): GuardRule | undefined {
    return this.#index.find(group, kind);
  }

  replace(rules: readonly GuardRule[]): void {
    this.#index = indexRules(rules);
  }
}

/** Every namespace: the explicit opt-out of the namespace restriction. */
export const ANY_NAMESPACE = '*';

/**
 * Whether `namespace` may hold a lock of `rule`'s kind. Cluster-scoped objects have no
 * namespace to restrict.
 */
export function namespaceAllowed(rule: Pick<GuardRule, 'namespaces'>, namespace: string): boolean {
  const allowed = rule.namespaces;
  return allowed === undefined || namespace === '' || allowed.includes(ANY_NAMESPACE) || allowed.includes(namespace);
}

export function readPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    if (!Object.prototype.hasOwnProperty.call(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

export type KeyResult = { ok: true; key: string; scopedKey: string } | { ok: false; field: string; message: string };

/**
 * The lock key of an object under its rule. `key` is the value as the object spells it
 * (for people); `scopedKey` is the identity of the lock: the key as the rule compares it
 * (normalized), prefixed by the namespace for namespace-scoped rules.
 */
export function deriveKey(rule: GuardRule, object: unknown, namespace: string | undefined): KeyResult {
  const field = rule.keyPath;
  const value = readPath(object, rule.keyPath);
  if (value === undefined || value === null) {
    return { ok: false, field, message: `${field} is required: it is the lock key for ${rule.kind}` };
  }
  if (typeof value !== 'string') {
    return {
      ok: false,
      field,
      message: `${field} must be a string, got ${Array.isArray(value) ? 'array' : typeof value}`,
    };
  }
  if (value.length === 0) {
    return { ok: false, field, message: `${field} must not be empty: it is the lock key for ${rule.kind}` };
  }
  // Stryker disable next-line StringLiteral: UTF-8 is also Buffer.byteLength's default
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_KEY_BYTES) {
    return {
      ok: false,
      field,
      message: `${field} is ${bytes} bytes; a lock key may be at most ${MAX_KEY_BYTES} bytes`,
    };
  }
  if (rule.scope === 'namespace' && !namespace) {
    return {
      ok: false,
      field: 'metadata.namespace',
      message: `${rule.kind} keys are scoped per namespace, but the object has no namespace`,
    };
  }
  return { ok: true, key: value, scopedKey: lockKeyOf(rule, value, namespace) };
}

/**
 * The identity of the lock a key value takes under its rule: the value as the rule
 * compares it (normalized), prefixed by the namespace for namespace-scoped rules.
 */
export function lockKeyOf(rule: Pick<GuardRule, 'scope' | 'normalize'>, value: string, namespace?: string): string {
  const key = normalizeKey(rule.normalize, value);
  return rule.scope === 'namespace' ? `${namespace ?? ''}/${key}` : key;
}

/**
 * Whether a key a person typed (`leaseguard locks release KEY`) names the lock recorded
 * as `recorded`: exactly, or as its rule compares keys (a namespace-scoped key is typed
 * with its namespace first, as `leaseguard locks` lists it).
 */
export function keyNamesLock(
  rule: Pick<GuardRule, 'scope' | 'normalize'> | undefined,
  typed: string,
  recorded: string,
): boolean {
  if (typed === recorded || rule === undefined) return typed === recorded;
  if (rule.scope !== 'namespace') return lockKeyOf(rule, typed) === recorded;
  const slash = typed.indexOf('/');
  return slash > 0 && lockKeyOf(rule, typed.slice(slash + 1), typed.slice(0, slash)) === recorded;
}

export interface PhaseState {
  phase: string;
  terminal: boolean;
}

/** The object's phase and whether it is terminal; an empty or missing phase is live. */
export function phaseOf(rule: GuardRule, object: unknown): PhaseState {
  const raw = readPath(object, rule.phasePath);
  const phase = typeof raw === 'string' ? raw : '';
  return { phase, terminal: phase !== '' && rule.terminalPhases.includes(phase) };
}

/**
 * What an UPDATE of a guarded object asks of its lock, from its key before and after:
 * - `none`: still keyless, or the same key;
 * - `take-lock`: a keyless object gains a valid key, and takes the lock as a create would
 *   (no path stores a keyed object without its lock);
 * - `key-changed`: a keyed object's key changes or goes: refused (the key is the lock's identity).
 */
export function updateEffect(before: KeyResult, after: KeyResult): 'none' | 'take-lock' | 'key-changed' {
  if (!before.ok) return after.ok ? 'take-lock' : 'none';
  return after.ok && after.scopedKey === before.scopedKey ? 'none' : 'key-changed';
}
