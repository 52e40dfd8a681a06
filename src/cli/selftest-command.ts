// `leaseguard selftest`: proves leaseguard answers for a guarded kind, with a server-side
// dry run that writes nothing (the chart's `helm test` hook runs it). What it sends and
// how it reads the answer is selftest.ts's.
import https from 'node:https';
import { loadConfig } from '../config.js';
import { ANY_NAMESPACE, type GuardRule } from '../core/rules.js';
import { ErrorCodes, LeaseguardError, usageError } from '../errors.js';
import { loadKubeConfig } from '../kube/kube-client.js';
import { send } from '../kube/node-http-library.js';
import { probeObject, readVerdict } from './selftest.js';
import { ruleFor } from './why-command.js';
import { defineCommand } from './command.js';

const HELP = `usage: leaseguard selftest --kind KIND [options]

Proves that leaseguard answers for a guarded kind. Sends a server-side dry-run create
(dryRun=All: nothing is stored, no Lease is written) of a KIND whose lock key is empty,
which leaseguard always refuses (422 Invalid, naming the key's field). Exits 0 only when
that refusal came back from leaseguard's validating webhook (or, for a rule in warn or
dryrun mode, leaseguard's warning); 1 when anything else answered: the CRD's schema, the
API server failing to call leaseguard, or nobody (the create admitted unseen).

  --kind KIND           the guarded kind: its kind, plural or plural.group (required)
  -n, --namespace NS    where the dry-run create goes (default: the first namespace where
                        the kind may be created, guardedNamespaces; default if that is *);
                        not kube-system nor leaseguard's own namespace, which the webhook
                        never sees
  --object JSON         the rest of the probe: the fields its CRD requires besides the key,
                        e.g. '{"spec":{"workflowRef":{...}}}' (default: {})
  --config FILE         leaseguard's configuration file, for its rules
                        (default: $LEASEGUARD_CONFIG, else the default rules)
  --kubeconfig FILE     kubeconfig (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)
  --context NAME        the kubeconfig context to use (default: its current context)
  --timeout-seconds N   how long to wait for the API server's answer (default: 30)
  -o, --output FORMAT   text (default) or json
`;

function rules(configFile: string | undefined): readonly GuardRule[] {
  // Only the rules are read: the settings a server needs (store, namespaces) are not checked here.
  return loadConfig({
    env: {},
    ...(configFile ? { file: configFile } : {}),
    overrides: { store: 'kubernetes', leaseNamespace: 'leaseguard-system' },
  }).rules;
}

/** Where the probe goes unless told: the first namespace where the kind may be created. */
function probeNamespace(rule: GuardRule): string {
  const first = rule.namespaces?.[0];
  return first === undefined || first === ANY_NAMESPACE ? 'default' : first;
}

function parseObject(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw usageError(`--object is not JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw usageError('--object must be a JSON object');
  return parsed as Record<string, unknown>;
}

export const selftestCommand = defineCommand({
  help: HELP,
  positionals: true,
  options: {
    kind: { type: 'string' },
    namespace: { type: 'string', short: 'n' },
    object: { type: 'string', default: '{}' },
    config: { type: 'string' },
    kubeconfig: { type: 'string' },
    context: { type: 'string' },
    'timeout-seconds': { type: 'string', default: '30' },
    output: { type: 'string', short: 'o', default: 'text' },
  },
  async run({ values, positionals }) {
    if (positionals.length > 0) throw usageError(`unexpected argument ${JSON.stringify(positionals[0])}; see --help`);
    if (!values.kind) throw usageError('--kind is required; see --help');
    if (values.output !== 'text' && values.output !== 'json')
      throw usageError(`--output must be text or json, got ${values.output}`);
    const timeoutSeconds = Number(values['timeout-seconds']);
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1)
      throw usageError(`--timeout-seconds must be a whole number of seconds, got ${values['timeout-seconds']}`);
    const base = parseObject(values.object);
    const configFile = values.config ?? (process.env.LEASEGUARD_CONFIG || undefined);
    const all = rules(configFile);
    const rule = ruleFor(all, values.kind);
    if (!rule) {
      throw usageError(
        `${JSON.stringify(values.kind)} is not a kind leaseguard guards (rules from ${configFile ?? 'the defaults'}: ${all.map((r) => r.kind).join(', ')})`,
      );
    }
    const kc = loadKubeConfig(values.kubeconfig, values.context);
    const cluster = kc?.getCurrentCluster();
    if (!kc || !cluster) throw usageError('no cluster to test: run in a Pod, or give --kubeconfig or $KUBECONFIG');

    const namespace = values.namespace ?? probeNamespace(rule);
    const path = `/apis/${rule.group}/${rule.version}/namespaces/${encodeURIComponent(namespace)}/${rule.resource}?dryRun=All`;
    const options: https.RequestOptions = { headers: {} };
    await kc.applyToHTTPSOptions(options);
    const server = cluster.server.replace(/\/+$/, '');
    const res = await send(
      `${server}${path}`,
      {
        ...options,
        method: 'POST',
        headers: { ...options.headers, 'content-type': 'application/json', accept: 'application/json' },
        signal: AbortSignal.timeout(timeoutSeconds * 1000),
      },
      JSON.stringify(probeObject(rule, namespace, base)),
    ).catch((err: unknown) => {
      throw new LeaseguardError(
        ErrorCodes.SELFTEST_FAILED,
        `no answer from the API server at ${server}: ${(err as Error).message}`,
        { cause: err },
      );
    });
    const verdict = readVerdict(
      { status: res.status, headers: res.headers, body: res.body.toString('utf8') },
      rule,
      namespace,
    );
    if (values.output === 'json') {
      process.stdout.write(
        `${JSON.stringify({ kind: rule.kind, namespace, ok: verdict.ok, ...(verdict.ok ? { how: verdict.how } : {}), status: res.status, message: verdict.message }, null, 2)}\n`,
      );
    } else if (verdict.ok) {
      process.stdout.write(
        `leaseguard answers for ${rule.kind} in namespace ${namespace}: it ${verdict.how === 'refused' ? 'refused' : 'warned about'} a dry-run create with an empty ${rule.keyPath}, as it must.\n${verdict.message}\n`,
      );
    }
    if (!verdict.ok)
      throw new LeaseguardError(
        ErrorCodes.SELFTEST_FAILED,
        `selftest failed for ${rule.kind} in namespace ${namespace}: ${verdict.message}`,
      );
    return 0;
  },
});
