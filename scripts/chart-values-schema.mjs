// Writes charts/leaseguard/values.schema.json: the chart's own values, and as `config`
// the JSON Schema leaseguard validates its configuration with (src/config-schema.ts), so
// `helm install` refuses a bad setting before anything reaches the cluster.
// Run after `npm run build`: node scripts/chart-values-schema.mjs [--check]
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DNS_LABEL, configJsonSchema } from '../dist/src/config-schema.js';

const out = fileURLToPath(new URL('../charts/leaseguard/values.schema.json', import.meta.url));
const str = (description, extra = {}) => ({ type: 'string', description, ...extra });
const int = (description, minimum = 0) => ({ type: 'integer', minimum, description });
const obj = (description, properties) => ({ type: 'object', additionalProperties: false, description, properties });
const free = (description, type = 'object') => ({ type, description });
// An object name, or empty for none.
const DNS_SUBDOMAIN = '^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$';

const config = configJsonSchema();
delete config.$schema;
delete config.title;
config.description = "leaseguard's configuration (docs/configuration.md)";

const schema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'leaseguard chart values',
  type: 'object',
  additionalProperties: false,
  properties: {
    name: str('name of every object the chart creates', { pattern: DNS_LABEL, maxLength: 40 }),
    image: obj('the leaseguard image', {
      repository: str('image repository', { minLength: 1 }),
      tag: str('image tag', { minLength: 1 }),
      pullPolicy: str('imagePullPolicy', { enum: ['Always', 'IfNotPresent', 'Never'] }),
    }),
    replicas: int('replicas of the Deployment (2 or more keep creates going through a restart)', 1),
    priorityClassName: str("the Pods' priorityClassName; empty for none"),
    nodeOptions: str('NODE_OPTIONS: the heap cap, below the memory limit'),
    resources: free("the container's resources"),
    terminationGracePeriodSeconds: int('must exceed config.shutdownDelaySeconds plus 10 s of drain', 1),
    priorityClassQuota: obj(
      'a ResourceQuota scoped to priorityClassName (GKE and Gatekeeper admit critical Pods outside kube-system only with one)',
      {
        enabled: { type: 'boolean', description: 'create it (with a priorityClassName set)' },
      },
    ),
    // maxUnavailable only: minAvailable >= replicas would block every node drain, and the
    // schema cannot compare it with replicas.
    podDisruptionBudget: obj('the PodDisruptionBudget', {
      maxUnavailable: int('replicas a node drain may take away at once; 1 or more, so a drain is never blocked', 1),
    }),
    nodeSelector: free("the Pods' nodeSelector"),
    tolerations: free("the Pods' tolerations", 'array'),
    affinity: free("the Pods' affinity"),
    namespace: obj('the release namespace as an object', {
      create: { type: 'boolean', description: 'create it, with the restricted Pod Security label' },
    }),
    crds: obj("kubernaut's CRDs", {
      install: {
        type: 'boolean',
        description:
          "render the CRDs in the chart's files/crds/ (none ship), kept on uninstall; one that exists and is not this release's is skipped",
      },
    }),
    webhook: obj('the webhook registrations', {
      failurePolicy: str('Fail refuses guarded creates while no replica answers; Ignore admits them unguarded', {
        enum: ['Fail', 'Ignore'],
      }),
    }),
    certificates: obj("the serving certificate and the webhooks' caBundle", {
      source: str(
        'self: leaseguard issues, renews and trusts its own; helm: generated at install and kept; cert-manager: a Certificate, caBundle injected; provided: your Secret and caBundle',
        {
          enum: ['self', 'helm', 'cert-manager', 'provided'],
        },
      ),
      secretName: str('the TLS Secret the Pods mount; empty: <name>-tls'),
      validityDays: int('source helm: days the generated CA and certificate are valid (never renewed)', 1),
      caBundle: str('source provided: base64 of the PEM CA that signed the serving certificate'),
      certManager: obj('source cert-manager', {
        issuerRef: free('an Issuer or ClusterIssuer to sign with; empty: a self-signed CA made by the chart'),
        duration: str("the serving certificate's lifetime", { pattern: '^[0-9]+(\\.[0-9]+)?(h|m|s)([0-9]+(h|m|s))*$' }),
        renewBefore: str('renew this long before expiry', { pattern: '^[0-9]+(\\.[0-9]+)?(h|m|s)([0-9]+(h|m|s))*$' }),
      }),
    }),
    clientCA: obj(
      "the CA of the API server's client certificate: only its callers reach /validate and /mutate; one of secretName, configMapName is required unless config.allowUnauthenticatedCallers",
      {
        secretName: str('a Secret in the release namespace holding the CA under key', { pattern: DNS_SUBDOMAIN }),
        configMapName: str('or a ConfigMap in the release namespace holding it under key', { pattern: DNS_SUBDOMAIN }),
        key: str('the key (file name) of the PEM CA', { pattern: '^[-._a-zA-Z0-9]+$' }),
        subjects: {
          type: 'array',
          items: { type: 'string', minLength: 1 },
          description:
            'allowed certificate CNs or DNS names (config.clientSubjects); default the CN leaseguard certs issues; empty: any the CA signed',
        },
      },
    ),
    admissionFrom: free(
      'NetworkPolicy peers allowed to reach the admission port; empty: any (callers are authenticated); required with config.allowUnauthenticatedCallers',
      'array',
    ),
    test: obj('`helm test`: a dry-run create leaseguard must refuse', {
      kind: str('a kind in config.rules; empty: the first'),
      namespace: str(
        "where the dry-run create goes: a namespace the webhook sees (not leaseguard's own, not kube-system); empty: the first of config.guardedNamespaces",
        { pattern: `^(${DNS_LABEL.slice(1, -1)})?$` },
      ),
      object: free('the rest of the object: the fields its CRD requires besides the key'),
    }),
    monitoring: obj(
      'the monitoring bundle (manifests/monitoring): Prometheus Operator objects and a Grafana dashboard',
      {
        podMonitor: obj('a PodMonitor scraping every replica', {
          enabled: { type: 'boolean', description: 'needs the Prometheus Operator CRDs' },
          interval: str('scrape interval', { pattern: '^[0-9]+(ms|s|m|h)$' }),
          labels: free('extra labels, e.g. what your Prometheus selects PodMonitors by'),
        }),
        prometheusRule: obj("leaseguard's alerts (docs/operations.md: Alerts)", {
          enabled: { type: 'boolean', description: 'needs the Prometheus Operator CRDs' },
          labels: free('extra labels, e.g. what your Prometheus selects rules by'),
          runbookBaseUrl: str(
            "prefixed to each alert's runbook_url (docs/runbooks/<alert>.md): where leaseguard's source is published, ending in /; empty leaves the path",
          ),
        }),
        dashboard: obj('the Grafana dashboard as a ConfigMap', {
          enabled: { type: 'boolean', description: "for Grafana's dashboard sidecar" },
          labels: free('labels the sidecar looks for'),
        }),
      },
    ),
    config,
  },
};

const text = `${JSON.stringify(schema, null, 2)}\n`;
if (process.argv.includes('--check')) {
  if (readFileSync(out, 'utf8') !== text) {
    console.error(`${out} is stale: run npm run build && node scripts/chart-values-schema.mjs`);
    process.exit(1);
  }
} else {
  writeFileSync(out, text);
  console.error(`wrote ${out}`);
}
