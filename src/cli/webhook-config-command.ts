import { readFile } from 'node:fs/promises';
import { dumpYaml } from '@kubernetes/client-node';
import { loadConfig } from '../config.js';
import { webhookRegistrations, type Endpoint } from '../webhook-config.js';
import { usageError, commandFailed } from '../errors.js';
import { defineCommand } from './command.js';

const HELP = `usage: leaseguard webhook-config [options]

Prints the ValidatingWebhookConfiguration for the guarded kinds of the configuration, with
the CA bundle, and the MutatingWebhookConfiguration that stamps objects when
stampAnnotations is set (or --stamp). Apply with: ... | kubectl apply -f -

Only CREATEs and the UPDATEs that change a key reach leaseguard (matchConditions), and
never from kube-system, leaseguard's own namespace, or a namespace labelled
leaseguard.kubernaut.ai/ignore=true.

  --ca FILE              CA certificate that signed the serving certificate (default: certs/ca.crt)
  --url URL              reach the webhook at this base URL (https://host:port) instead of a Service
  --service NAME         Service name (default: config serviceName, leaseguard)
  --namespace NS         Service namespace (default: config serviceNamespace)
  --port N               Service port (default: 443)
  --timeout-seconds N    webhook timeoutSeconds (default: config timeoutSeconds, 5)
  --name NAME            metadata.name of the configurations (default: config webhookConfigurationName, leaseguard)
  --cert-manager CERT    no caBundle: annotate for cert-manager's cainjector to fill it from
                         Certificate NS/CERT (NS: --namespace; CERT: '' for serviceName)
  --self-managed         no caBundle: leaseguard's leader fills it (certificateSecret set)
  --stamp                include the mutating webhook (default: config stampAnnotations, false);
                         it costs a second webhook call per guarded create
  --config FILE          leaseguard configuration file (default: $LEASEGUARD_CONFIG)
  -o, --output FORMAT    yaml (default) or json
`;

export const webhookConfigCommand = defineCommand({
  help: HELP,
  options: {
    ca: { type: 'string', default: 'certs/ca.crt' },
    url: { type: 'string' },
    service: { type: 'string' },
    namespace: { type: 'string' },
    port: { type: 'string', default: '443' },
    'timeout-seconds': { type: 'string' },
    name: { type: 'string' },
    stamp: { type: 'boolean' },
    'cert-manager': { type: 'string' },
    'self-managed': { type: 'boolean', default: false },
    config: { type: 'string' },
    output: { type: 'string', short: 'o', default: 'yaml' },
  },
  async run({ values }) {
    if (values.output !== 'yaml' && values.output !== 'json') {
      throw usageError(`--output must be yaml or json, got ${values.output}`);
    }
    const config = loadConfig({
      ...(values.config ? { file: values.config } : {}),
      overrides: values['timeout-seconds'] ? { timeoutSeconds: Number(values['timeout-seconds']) } : {},
    });
    const namespace = values.namespace ?? config.serviceNamespace;
    if (values['cert-manager'] !== undefined && values['self-managed']) {
      throw usageError('--cert-manager and --self-managed each say where caBundle comes from; give one');
    }
    // Where caBundle comes from: the CA file, cert-manager's cainjector, or leaseguard's leader.
    let ca: string | undefined;
    if (values['cert-manager'] === undefined && !values['self-managed']) {
      try {
        ca = await readFile(values.ca, 'utf8');
      } catch (err) {
        throw commandFailed(
          `cannot read the CA certificate ${values.ca}: ${(err as Error).message}; generate one with 'leaseguard certs'`,
        );
      }
      if (!ca.includes('BEGIN CERTIFICATE')) {
        throw commandFailed(`${values.ca} is not a PEM certificate`);
      }
    }
    let endpoint: Endpoint;
    if (values.url) {
      if (!/^https:\/\//.test(values.url)) {
        throw usageError('--url must start with https:// (the API server only calls webhooks over TLS)');
      }
      endpoint = { url: values.url };
    } else {
      const port = Number(values.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw usageError(`--port must be 1-65535, got ${values.port}`);
      }
      endpoint = {
        service: {
          name: values.service ?? config.serviceName,
          namespace: values.namespace ?? config.serviceNamespace,
          port,
        },
      };
    }
    const items = webhookRegistrations({
      stamp: values.stamp ?? config.stampAnnotations,
      rules: config.rules,
      ...(ca ? { caBundlePem: ca } : {}),
      ...(values['cert-manager'] !== undefined
        ? {
            annotations: {
              'cert-manager.io/inject-ca-from': `${namespace}/${values['cert-manager'] || config.serviceName}`,
            },
          }
        : {}),
      endpoint,
      timeoutSeconds: config.timeoutSeconds,
      ownNamespace: namespace,
      name: values.name ?? config.webhookConfigurationName,
    });
    if (values.output === 'json') {
      process.stdout.write(`${JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 2)}\n`);
    } else {
      process.stdout.write(items.map((i) => dumpYaml(i)).join('---\n'));
    }
    return 0;
  },
});
