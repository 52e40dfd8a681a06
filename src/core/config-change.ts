// Which configuration changes apply without a restart. A rule's mode, hold limit and
// namespaces (guardedNamespaces among them), and the log level, are read per decision;
// everything else (ports, store, certificates, a rule's kind, key or phases) shapes
// watches, Lease names or listeners built once at start, so a change to it is refused and
// the running configuration stays.
import { ruleId, type GuardRule } from './rules.js';

/** Rule fields a running replica applies live. */
export const LIVE_RULE_FIELDS = ['mode', 'maxHoldSeconds', 'namespaces'] as const;
/** Settings a running replica applies live (rules aside). */
export const LIVE_SETTINGS = ['logLevel', 'guardedNamespaces', 'rules'] as const;

export type ConfigChange = { ok: true; changes: string[] } | { ok: false; problems: string[] };

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

function withoutLive(rule: GuardRule): Record<string, unknown> {
  const rest: Record<string, unknown> = { ...rule };
  for (const f of LIVE_RULE_FIELDS) delete rest[f];
  return rest;
}

/** The settings the comparison reads by name; the rest it compares whole (config.ts's Config). */
export interface ComparedConfig {
  logLevel: string;
  rules: readonly GuardRule[];
}

/** What changes from `current` to `next`, or why it cannot apply live. */
export function configChange<C extends ComparedConfig>(current: C, next: C): ConfigChange {
  const problems: string[] = [];
  const changes: string[] = [];
  for (const key of Object.keys({ ...current, ...next }) as Array<keyof C & string>) {
    if ((LIVE_SETTINGS as readonly string[]).includes(key) || same(current[key], next[key])) continue;
    problems.push(
      `${key} changed (${JSON.stringify(current[key])} → ${JSON.stringify(next[key])}): it applies only at start`,
    );
  }
  if (current.logLevel !== next.logLevel) changes.push(`logLevel ${current.logLevel} → ${next.logLevel}`);
  const before = new Map(current.rules.map((r) => [ruleId(r), r]));
  const after = new Map(next.rules.map((r) => [ruleId(r), r]));
  for (const id of before.keys())
    if (!after.has(id)) problems.push(`rule ${id} removed: the guarded kinds apply only at start`);
  for (const [id, rule] of after) {
    const old = before.get(id);
    if (!old) {
      problems.push(`rule ${id} added: the guarded kinds apply only at start`);
      continue;
    }
    if (!same(withoutLive(old), withoutLive(rule))) {
      problems.push(`rule ${id}: only ${LIVE_RULE_FIELDS.join(', ')} apply live; its other fields apply only at start`);
      continue;
    }
    for (const f of LIVE_RULE_FIELDS) {
      if (!same(old[f], rule[f]))
        changes.push(`rule ${id}: ${f} ${JSON.stringify(old[f] ?? null)} → ${JSON.stringify(rule[f] ?? null)}`);
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, changes };
}
