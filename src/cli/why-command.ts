// `leaseguard why` and `kubectl leaseguard why`: which Lease and holder block an object,
// since when, and what frees it. Reads the object (or its manifest, for a create that was
// refused and so never stored), the rules (leaseguard's ConfigMap, --config, or the
// defaults), the Lease and the holder; explaining is why.ts's.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { pino } from 'pino';
import { loadConfig } from '../config.js';
import { decodeLease, type ObjectRef } from '../core/lock-record.js';
import { leaseName } from '../core/lease-name.js';
import { deriveKey, indexRules, type GuardRule } from '../core/rules.js';
import { ErrorCodes, commandFailed, hasCode, usageError } from '../errors.js';
import { callApi } from '../kube/api-errors.js';
import { KubeHolderReader } from '../store/holder-reader.js';
import { openStore } from '../store/open-store.js';
import type { KubeClients } from '../kube/kube-client.js';
import { printable, quoted, safeJson } from '../core/printable.js';
import { explain } from './why.js';
import { defineCommand } from './command.js';

export const WHY_HELP = `usage: leaseguard why KIND/NAME [-n NAMESPACE] [options]
       leaseguard why -f MANIFEST [options]

Explains which lock a guarded object meets: the Lease and its holder, since when, what
frees it, or that the key is free. A refused create is never stored: pass its manifest
with -f (the same file 'kubectl create -f' was given).

  -n, --namespace NS      the object's namespace (default: the kubeconfig context's, else default)
  -f, --filename FILE     a manifest instead of a stored object ('-' for standard input)
  -o, --output FORMAT     text (default) or json
  --kubeconfig FILE       kubeconfig (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)
  --context NAME          the kubeconfig context to use (default: its current context)
  --lease-namespace NS    where leaseguard keeps its Leases (default: leaseguard-system)
  --config FILE           leaseguard's configuration file, for its rules and pending timeout
  --config-map NAME       else read them from this ConfigMap in the Lease namespace
                          (default: leaseguard-config; the defaults when it cannot be read)
`;

interface Source {
  rules: readonly GuardRule[];
  pendingTimeoutSeconds: number;
  from: string;
}

/** The rules and pending timeout leaseguard runs with: --config, else its ConfigMap, else the defaults. */
async function configSource(
  clients: KubeClients,
  namespace: string,
  o: { config?: string; configMap: string },
): Promise<Source> {
  const fromFile = (file: string) =>
    loadConfig({ file, env: {}, overrides: { store: 'kubernetes', leaseNamespace: namespace } });
  if (o.config) {
    const c = fromFile(o.config);
    return { rules: c.rules, pendingTimeoutSeconds: c.pendingTimeoutSeconds, from: o.config };
  }
  try {
    const cm = await clients.core.readNamespacedConfigMap({ name: o.configMap, namespace });
    const text = cm.data?.['config.yaml'];
    if (text !== undefined) {
      const dir = await mkdtemp(join(tmpdir(), 'leaseguard-why-'));
      try {
        await writeFile(join(dir, 'config.yaml'), text);
        const c = fromFile(join(dir, 'config.yaml'));
        return {
          rules: c.rules,
          pendingTimeoutSeconds: c.pendingTimeoutSeconds,
          from: `ConfigMap ${namespace}/${o.configMap}`,
        };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  } catch (err) {
    if (hasCode(err, ErrorCodes.CONFIG_INVALID)) throw err;
    process.stderr.write(
      `leaseguard why: could not read ConfigMap ${namespace}/${o.configMap} (${(err as Error).message.split('\n')[0]?.slice(0, 160)}); using the default rules (pass --config)\n`,
    );
  }
  const c = loadConfig({ env: {}, overrides: { store: 'kubernetes' } });
  return { rules: c.rules, pendingTimeoutSeconds: c.pendingTimeoutSeconds, from: 'the defaults' };
}

/** The rule a KIND names: its kind, plural or plural.group, case-insensitively. */
export function ruleFor(rules: readonly GuardRule[], kind: string): GuardRule | undefined {
  const k = kind.toLowerCase();
  return rules.find(
    (r) =>
      r.kind.toLowerCase() === k ||
      r.resource === k ||
      `${r.resource}.${r.group}` === k ||
      `${r.kind.toLowerCase()}.${r.group}` === k,
  );
}

const guarded = (rules: readonly GuardRule[]) => rules.map((r) => `${r.kind} (${r.resource}.${r.group})`).join(', ');

export const whyCommand = defineCommand({
  help: WHY_HELP,
  positionals: true,
  options: {
    namespace: { type: 'string', short: 'n' },
    filename: { type: 'string', short: 'f' },
    output: { type: 'string', short: 'o', default: 'text' },
    kubeconfig: { type: 'string' },
    context: { type: 'string' },
    'lease-namespace': { type: 'string' },
    config: { type: 'string' },
    'config-map': { type: 'string', default: 'leaseguard-config' },
  },
  async run({ values, positionals }) {
    const target = positionals[0];
    if (
      positionals.length > 1 ||
      (!target && !values.filename) ||
      (target && values.filename) ||
      (target && !target.includes('/'))
    ) {
      throw usageError('name one object as KIND/NAME, or pass -f MANIFEST; see --help');
    }
    if (values.output !== 'text' && values.output !== 'json') {
      throw usageError(`--output must be text or json, got ${values.output}`);
    }
    const leaseNamespace = values['lease-namespace'] ?? 'leaseguard-system';
    const opened = await openStore(
      {
        store: 'kubernetes',
        leaseNamespace,
        kubeconfig: values.kubeconfig,
        ...(values.context ? { kubeContext: values.context } : {}),
      },
      pino({ level: 'silent' }),
      () => {},
    );
    try {
      const clients = opened.clients!;
      const source = await configSource(clients, leaseNamespace, {
        ...(values.config ? { config: values.config } : {}),
        configMap: values['config-map'],
      });
      const defaultNamespace =
        values.namespace ??
        clients.kubeConfig.getContextObject(clients.kubeConfig.getCurrentContext())?.namespace ??
        'default';

      let object: Record<string, unknown>;
      let rule: GuardRule | undefined;
      let stored: boolean;
      if (values.filename) {
        const text = values.filename === '-' ? await readStdin() : await readFile(values.filename, 'utf8');
        const doc = (loadAllYaml(text) as unknown[]).find((d) => d && typeof d === 'object') as
          Record<string, unknown> | undefined;
        if (!doc) throw usageError(`${printable(values.filename)} holds no object`);
        const apiVersion = typeof doc.apiVersion === 'string' ? doc.apiVersion : '';
        const group = apiVersion.includes('/') ? apiVersion.split('/')[0]! : '';
        rule = indexRules(source.rules).find(group, typeof doc.kind === 'string' ? doc.kind : '');
        if (!rule)
          throw usageError(
            `${quoted(String(doc.kind))} (${quoted(apiVersion)}) is not guarded by leaseguard (rules from ${source.from}: ${guarded(source.rules)})`,
          );
        object = doc;
        stored = false;
      } else {
        const [kind, name] = [target!.slice(0, target!.indexOf('/')), target!.slice(target!.indexOf('/') + 1)];
        rule = ruleFor(source.rules, kind);
        if (!rule)
          throw usageError(
            `${quoted(kind)} is not a kind leaseguard guards (rules from ${source.from}: ${guarded(source.rules)})`,
          );
        const r = rule;
        try {
          object = (await callApi(
            () => {},
            'get',
            r.resource,
            `get ${r.resource}.${r.group} ${defaultNamespace}/${name}`,
            () =>
              clients.customObjects.getNamespacedCustomObject({
                group: r.group,
                version: r.version,
                plural: r.resource,
                namespace: defaultNamespace,
                name,
              }),
          )) as Record<string, unknown>;
        } catch (err) {
          if (hasCode(err, ErrorCodes.STORE_NOT_FOUND)) {
            throw commandFailed(
              `${printable(r.kind.toLowerCase())} ${printable(`${defaultNamespace}/${name}`)} is not stored. A refused create never is: ` +
                'pass the manifest it was created from with -f to see what blocks it',
            );
          }
          throw err;
        }
        stored = true;
      }
      const md = (object.metadata ?? {}) as Record<string, unknown>;
      const namespace = typeof md.namespace === 'string' && md.namespace ? md.namespace : defaultNamespace;
      const ref: ObjectRef = {
        group: rule.group,
        kind: rule.kind,
        namespace,
        name: typeof md.name === 'string' ? md.name : typeof md.generateName === 'string' ? md.generateName : '',
        uid: typeof md.uid === 'string' ? md.uid : '',
      };
      const key = deriveKey(rule, object, namespace);
      const lease = key.ok ? leaseName(rule, key.scopedKey) : '';
      const raw = key.ok ? await opened.store.get(lease, AbortSignal.timeout(30_000)) : null;
      const decoded = raw ? decodeLease(raw) : null;
      const holderRef = decoded?.record?.object;
      const sameObject = holderRef && holderRef.namespace === ref.namespace && holderRef.name === ref.name;
      const holder =
        holderRef && !sameObject
          ? await new KubeHolderReader(clients).read(rule, holderRef, AbortSignal.timeout(30_000))
          : undefined;
      const answer = explain({
        rule,
        object: ref,
        stored,
        key,
        leaseRef: `${leaseNamespace}/${lease}`,
        lease: decoded,
        ...(holder ? { holder } : {}),
        now: new Date(),
        pendingTimeoutSeconds: source.pendingTimeoutSeconds,
      });
      if (values.output === 'json')
        process.stdout.write(
          `${safeJson({ object: `${ref.namespace}/${ref.name}`, kind: rule.kind, ...answer, rulesFrom: source.from }, 2)}\n`,
        );
      else process.stdout.write(`${answer.lines.join('\n')}\n`);
      return 0;
    } finally {
      opened.close();
    }
  },
});

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
