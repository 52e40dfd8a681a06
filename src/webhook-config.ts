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
  caBundlePem: string;
  endpoint: Endpoint;
  timeoutSeconds: number;
  /** metadata.name of both configurations. */
  name?: string;
  failurePolicy?: 'Fail' | 'Ignore';
  templateDir?: string;
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

function clientConfig(endpoint: Endpoint, path: string, caBundle: string): Obj {
  if ('url' in endpoint) return { url: `${endpoint.url.replace(/\/+$/, '')}${path}`, caBundle };
  return { service: { ...endpoint.service, path }, caBundle };
}

function render(file: string, path: string, operations: string[], o: RenderOptions): Obj {
  const doc = loadYaml(readFileSync(`${o.templateDir ?? WEBHOOK_DIR}/${file}`, 'utf8')) as Obj;
  const caBundle = Buffer.from(o.caBundlePem).toString('base64');
  const metadata = { ...(doc.metadata as Obj), ...(o.name ? { name: o.name } : {}) };
  const webhooks = (doc.webhooks as Obj[]).map((w) => ({
    ...w,
    timeoutSeconds: o.timeoutSeconds,
    ...(o.failurePolicy ? { failurePolicy: o.failurePolicy } : {}),
    clientConfig: clientConfig(o.endpoint, path, caBundle),
    rules: admissionRules(o.rules, operations),
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
