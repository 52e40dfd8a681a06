// Renders the webhook registrations from the templates in webhook/ with the CA bundle,
// where to reach leaseguard, and rules for exactly the guarded kinds.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadYaml } from '@kubernetes/client-node';
import type { GuardRule } from './core/rules.js';

export const WEBHOOK_DIR = fileURLToPath(new URL('../../webhook/', import.meta.url));

export type Endpoint = { url: string } | { service: { name: string; namespace: string; port: number } };

export interface RenderOptions {
  rules: readonly GuardRule[];
  /** Absent where another party fills caBundle (cert-manager's cainjector, leaseguard's own leader). */
  caBundlePem?: string;
  /** Added to both configurations' metadata (e.g. cert-manager.io/inject-ca-from). */
  annotations?: Record<string, string>;
  endpoint: Endpoint;
  timeoutSeconds: number;
  /** metadata.name of both configurations. */
  name?: string;
  failurePolicy?: 'Fail' | 'Ignore';
  /** leaseguard's own namespace, never guarded (default leaseguard-system). */
  ownNamespace?: string;
  templateDir?: string;
}

/** A namespace labelled with this (value "true") is not guarded: its creates never reach leaseguard. */
export const OPT_OUT_LABEL = 'leaseguard.kubernaut.ai/ignore';

/**
 * Namespaces whose requests never reach leaseguard: kube-system, its own (so an outage of
 * leaseguard cannot block what would bring it back), and any labelled to opt out.
 */
export function namespaceSelector(ownNamespace: string): Obj {
  return {
    matchExpressions: [
      { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...new Set(['kube-system', ownNamespace])] },
      { key: OPT_OUT_LABEL, operator: 'NotIn', values: ['true'] },
    ],
  };
}

/**
 * A CEL string literal. JSON's quoting is CEL's too (CEL double-quoted strings take the
 * same escapes); <, >, & and U+2028/9 as \u escapes, as Helm's toJson writes them, so the
 * chart (which fills the same templates with toJson) renders the very same text.
 */
export function celLiteral(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Where a key-change template takes its rule's literals: its group, its resource, the key path's segments. */
export const PLACEHOLDERS = {
  group: '<<group>>',
  resource: '<<resource>>',
  segment: (i: number) => `<<${i}>>`,
} as const;

/**
 * A key path read as map entries, under type guards. Webhook objects reach CEL as
 * unstructured maps, which admission CEL does not unescape `__dash__`-style names for
 * (kubernetes/kubernetes#118230): `object.spec.my__dash__key` never exists, so only
 * `object['spec']['my-key']` reads `spec.my-key` (and `spec.for`, `spec.9lives` alike).
 * A non-map on the way makes the key absent instead of an error, which with
 * failurePolicy Fail would refuse the UPDATE.
 */
function celPath(root: string, depth: number): { present: string; value: string } {
  const steps = Array.from(
    { length: depth },
    (_, i) => `${root}${Array.from({ length: i }, (_, j) => `[${PLACEHOLDERS.segment(j)}]`).join('')}`,
  );
  const present = steps
    .map((parent, i) => `type(${parent}) == map && ${PLACEHOLDERS.segment(i)} in ${parent}`)
    .join(' && ');
  return { present: `(${present})`, value: `${steps[depth - 1]}[${PLACEHOLDERS.segment(depth - 1)}]` };
}

/**
 * The condition for a key path of `depth` segments, placeholders unfilled: true for every
 * request but an UPDATE of the rule's resource that keeps its key. A key is changed when it
 * appears, disappears, changes type or changes value; values are compared only when both
 * are present and of one type, so no comparison can fail on a non-string key.
 */
export function keyChangeTemplate(depth: number): string {
  if (!Number.isInteger(depth) || depth < 1) throw new RangeError(`a key path has at least one segment, got ${depth}`);
  const now = celPath('object', depth);
  const old = celPath('oldObject', depth);
  const other = `request.operation != 'UPDATE' || request.resource.group != ${PLACEHOLDERS.group} || request.resource.resource != ${PLACEHOLDERS.resource}`;
  const changed = `(${now.present} && ${old.present} ? (type(${now.value}) != type(${old.value}) || ${now.value} != ${old.value}) : ${now.present} != ${old.present})`;
  return `${other} || ${changed}`;
}

/** A template filled for one rule: every placeholder a CEL literal (segments first: no literal holds `<<`). */
export function fillKeyChangeTemplate(
  template: string,
  rule: Pick<GuardRule, 'group' | 'resource' | 'keyPath'>,
): string {
  let out = template;
  rule.keyPath.split('.').forEach((segment, i) => (out = out.replaceAll(PLACEHOLDERS.segment(i), celLiteral(segment))));
  return out
    .replaceAll(PLACEHOLDERS.group, celLiteral(rule.group))
    .replaceAll(PLACEHOLDERS.resource, celLiteral(rule.resource));
}

/**
 * matchConditions that let through only the UPDATEs that change a guarded object's key
 * (the only UPDATE leaseguard refuses), so that while no replica answers, label changes,
 * finalizer removal and so deletes still succeed. One condition per guarded kind.
 */
export function keyChangeConditions(rules: readonly GuardRule[]): Array<{ name: string; expression: string }> {
  return rules.map((r, i) => ({
    name: `key-changed-${i}-${r.resource}`.slice(0, 63).replace(/[^A-Za-z0-9]+$/, ''),
    expression: fillKeyChangeTemplate(keyChangeTemplate(r.keyPath.split('.').length), r),
  }));
}

/** The deepest key path the chart's copy of the templates covers. */
export const CHART_CONDITION_DEPTH = 8;

/**
 * charts/leaseguard/files/key-change-conditions.json: these templates for key paths of 1 to
 * CHART_CONDITION_DEPTH segments, which the chart fills per rule (toJson of each literal).
 * Written and checked by scripts/chart-key-conditions.mjs.
 */
export function chartConditionsFile(): string {
  const file = {
    about:
      'Generated from keyChangeTemplate in src/webhook-config.ts by scripts/chart-key-conditions.mjs; do not edit. ' +
      'expressions[n-1] is the matchCondition for a key path of n segments: the chart replaces <<group>>, <<resource>> and <<i>> (segment i) with toJson of each.',
    expressions: Array.from({ length: CHART_CONDITION_DEPTH }, (_, i) => keyChangeTemplate(i + 1)),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

type Obj = Record<string, unknown>;

interface WebhookRule {
  apiGroups: string[];
  apiVersions: string[];
  resources: string[];
  operations: string[];
  scope: '*';
}

/** One rule per group/version, naming exactly the guarded resources. */
export function admissionRules(rules: readonly GuardRule[], operations: string[]): WebhookRule[] {
  const byGv = new Map<string, WebhookRule>();
  for (const r of rules) {
    const id = `${r.group}/${r.version}`;
    const entry = byGv.get(id) ?? {
      apiGroups: [r.group],
      apiVersions: [r.version],
      resources: [],
      operations,
      scope: '*' as const,
    };
    if (!entry.resources.includes(r.resource)) entry.resources.push(r.resource);
    byGv.set(id, entry);
  }
  return [...byGv.values()];
}

function clientConfig(endpoint: Endpoint, path: string, caBundle: string | undefined): Obj {
  const ca = caBundle ? { caBundle } : {};
  if ('url' in endpoint) return { url: `${endpoint.url.replace(/\/+$/, '')}${path}`, ...ca };
  return { service: { ...endpoint.service, path }, ...ca };
}

function render(file: string, path: string, operations: string[], o: RenderOptions): Obj {
  const updates = operations.includes('UPDATE') ? keyChangeConditions(o.rules) : [];
  const doc = loadYaml<Obj>(readFileSync(`${o.templateDir ?? WEBHOOK_DIR}/${file}`, 'utf8'));
  const caBundle = o.caBundlePem ? Buffer.from(o.caBundlePem).toString('base64') : undefined;
  const metadata = {
    ...(doc.metadata as Obj),
    ...(o.name ? { name: o.name } : {}),
    ...(o.annotations ? { annotations: o.annotations } : {}),
  };
  const webhooks = (doc.webhooks as Obj[]).map((w) => ({
    ...w,
    timeoutSeconds: o.timeoutSeconds,
    ...(o.failurePolicy ? { failurePolicy: o.failurePolicy } : {}),
    clientConfig: clientConfig(o.endpoint, path, caBundle),
    rules: admissionRules(o.rules, operations),
    namespaceSelector: namespaceSelector(o.ownNamespace ?? 'leaseguard-system'),
    ...(updates.length > 0 ? { matchConditions: updates } : {}),
  }));
  return { ...doc, metadata, webhooks };
}

export function renderWebhookConfigurations(o: RenderOptions): { validating: Obj; mutating: Obj } {
  return {
    // UPDATE too: a guarded object's key may not change.
    validating: render('validating-webhook.yaml', '/validate', ['CREATE', 'UPDATE'], o),
    mutating: render('mutating-webhook.yaml', '/mutate', ['CREATE'], o),
  };
}

/**
 * What to register: the validating webhook, and the mutating one only when objects are to
 * be stamped (it costs the API server a second call per guarded create; nothing depends on it).
 */
export function webhookRegistrations(o: RenderOptions & { stamp: boolean }): Obj[] {
  const { validating, mutating } = renderWebhookConfigurations(o);
  return o.stamp ? [validating, mutating] : [validating];
}
