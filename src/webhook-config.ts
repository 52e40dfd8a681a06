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

const CEL_RESERVED = new Set(['true', 'false', 'null', 'in', 'as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import', 'let', 'loop', 'package', 'namespace', 'return', 'var', 'void', 'while']);

/** A property name as Kubernetes CEL spells it (its escaping rules), or undefined when CEL cannot reach it. */
function celProperty(name: string): string | undefined {
  if (!/^[a-zA-Z_.\-/][a-zA-Z0-9_.\-/]*$/.test(name)) return undefined;
  if (CEL_RESERVED.has(name)) return `__${name}__`;
  return name.replace(/__/g, '__underscores__').replace(/\./g, '__dot__').replace(/-/g, '__dash__').replace(/\//g, '__slash__');
}

const celString = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * CEL: is `path` (dotted, as keyPath) present in `root`, and its value. Undefined when a
 * part of the path has no CEL spelling.
 */
function celPath(root: string, path: string): { has: string; value: string } | undefined {
  const parts = path.split('.').map(celProperty);
  if (parts.some((p) => p === undefined)) return undefined;
  const prefixes = parts.map((_, i) => [root, ...parts.slice(0, i + 1)].join('.'));
  return { has: prefixes.map((p) => `has(${p})`).join(' && '), value: prefixes[prefixes.length - 1]! };
}

/**
 * matchConditions that let through only the UPDATEs that change a guarded object's key
 * (the only UPDATE leaseguard refuses), so that while no replica answers, label changes,
 * finalizer removal and so deletes still succeed. One condition per guarded kind; a kind
 * whose key path CEL cannot spell sends every UPDATE, as without conditions.
 */
export function keyChangeConditions(rules: readonly GuardRule[]): Array<{ name: string; expression: string }> {
  const out: Array<{ name: string; expression: string }> = [];
  rules.forEach((r, i) => {
    const now = celPath('object', r.keyPath);
    const old = celPath('oldObject', r.keyPath);
    if (!now || !old) return;
    const other = `request.operation != 'UPDATE' || request.resource.group != ${celString(r.group)} || request.resource.resource != ${celString(r.resource)}`;
    const changed = `(${now.has}) != (${old.has}) || ((${now.has}) && ${now.value} != ${old.value})`;
    out.push({ name: `key-changed-${i}-${r.resource}`.slice(0, 63).replace(/[^A-Za-z0-9]+$/, ''), expression: `${other} || ${changed}` });
  });
  return out;
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
    const entry = byGv.get(id) ?? { apiGroups: [r.group], apiVersions: [r.version], resources: [], operations, scope: '*' as const };
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
  const doc = loadYaml(readFileSync(`${o.templateDir ?? WEBHOOK_DIR}/${file}`, 'utf8')) as Obj;
  const caBundle = o.caBundlePem ? Buffer.from(o.caBundlePem).toString('base64') : undefined;
  const metadata = { ...(doc.metadata as Obj), ...(o.name ? { name: o.name } : {}), ...(o.annotations ? { annotations: o.annotations } : {}) };
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
