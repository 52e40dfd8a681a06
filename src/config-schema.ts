// The one description of leaseguard's settings: config.ts validates with it, the
// configuration table of docs/configuration.md is rendered from it, and it becomes the JSON Schema of the config
// file and of the Helm chart's `config` value. Relations between settings (deadline below
// timeout, pending timeout above the request timeout) are checked in config.ts.

import { KEY_NORMALIZATIONS } from './core/key-normalization.js';

export type SettingType = 'integer' | 'number' | 'boolean' | 'string' | 'strings' | 'rules';

/** One value's name, type and bounds: a setting, or a field of a rule. */
export interface Field<T extends SettingType = SettingType> {
  readonly name: string;
  readonly type: T;
  /** For strings: the only values allowed. */
  readonly values?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  /** For strings: what a value must look like, and how to say it in an error. */
  readonly pattern?: { readonly regex: string; readonly says: string };
  /** A fixed default; absent where the default is derived when leaseguard starts. */
  readonly default?: unknown;
  /** What it means (Markdown, one line; links relative to docs/): the docs' table and JSON Schema alike. */
  readonly description: string;
}

export interface Setting extends Field {
  /** Environment variable, where one sets it. */
  readonly env?: string;
  /** The default as the docs state it. */
  readonly defaultText: string;
}

export const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
export const DOTTED_PATH = '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$';
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const STORES = ['auto', 'kubernetes', 'memory'] as const;

const port = (name: string, env: string, dflt: number, description: string): Setting => ({
  name,
  env,
  type: 'integer',
  min: 0,
  max: 65535,
  default: dflt,
  defaultText: String(dflt),
  description,
});

export const SETTINGS: readonly Setting[] = [
  port(
    'admissionPort',
    'LEASEGUARD_ADMISSION_PORT',
    8443,
    'HTTPS port (`/validate`, `/mutate`, `/healthz`, `/readyz`)',
  ),
  port('metricsPort', 'LEASEGUARD_METRICS_PORT', 9090, 'plain HTTP port for `GET /metrics`'),
  {
    name: 'host',
    env: 'LEASEGUARD_HOST',
    type: 'string',
    defaultText: '`0.0.0.0` (`127.0.0.1` with the embedded store)',
    description: 'listen address',
  },
  {
    name: 'certDir',
    env: 'LEASEGUARD_CERT_DIR',
    type: 'string',
    default: 'certs',
    defaultText: '`certs`',
    description: 'directory with `tls.crt`, `tls.key`',
  },
  {
    name: 'clientCaFile',
    env: 'LEASEGUARD_CLIENT_CA_FILE',
    type: 'string',
    defaultText: '—',
    description:
      "CA of the API server's client certificate; when set, only its callers reach `/validate` and `/mutate`",
  },
  {
    name: 'clientSubjects',
    env: 'LEASEGUARD_CLIENT_SUBJECTS',
    type: 'strings',
    default: [],
    defaultText: '—',
    description:
      "with `clientCaFile`: the allowed callers (comma-separated), by user name as Kubernetes' x509 authenticator reads it: the subject's CN (the last CN, when there are several)",
  },
  {
    name: 'clientSubjectsMatchSans',
    env: 'LEASEGUARD_CLIENT_SUBJECTS_MATCH_SANS',
    type: 'boolean',
    default: false,
    defaultText: 'false',
    description:
      'with `clientSubjects`: also accept a certificate whose DNS SAN is among them (Kubernetes never reads a SAN as the user name, so off by default)',
  },
  {
    name: 'allowUnauthenticatedCallers',
    env: 'LEASEGUARD_ALLOW_UNAUTHENTICATED_CALLERS',
    type: 'boolean',
    default: false,
    defaultText: 'false',
    description:
      'serve the admission endpoints without `clientCaFile` on the Kubernetes store, for clusters whose API server cannot present a client certificate (managed ones): ' +
      'anyone who reaches the admission port can take and probe locks, so restrict its sources; reported by `leaseguard_callers_authenticated` 0, a warning at start and an alert. ' +
      'Without it (and without `clientCaFile`) leaseguard refuses to start on the Kubernetes store',
  },
  {
    name: 'embeddedMaxLocks',
    env: 'LEASEGUARD_EMBEDDED_MAX_LOCKS',
    type: 'integer',
    min: 1,
    max: 10_000_000,
    default: 100_000,
    defaultText: '100000',
    description: "the embedded store's most locks; beyond it new keys fail closed",
  },
  {
    name: 'maxLeases',
    env: 'LEASEGUARD_MAX_LEASES',
    type: 'integer',
    min: 1,
    max: 10_000_000,
    default: 100_000,
    defaultText: '100000',
    description:
      'with the Kubernetes store: the most Leases in `leaseNamespace` (every Lease there counts); past it a create of a new key fails closed (503), ' +
      'while held and retried keys are decided as ever. Counted every 15 s per replica (a list of one Lease) plus its own creates since, so replicas may overshoot by a burst. ' +
      '100,000 is the scale the benchmark measured (`bench/RESULTS-scale.md`); every distinct key a client sends costs a Lease, and nothing else bounds how many',
  },
  {
    name: 'generateCerts',
    env: 'LEASEGUARD_GENERATE_CERTS',
    type: 'boolean',
    default: false,
    defaultText: 'false',
    description: 'generate certificates when missing (always on with the embedded store)',
  },
  {
    name: 'store',
    env: 'LEASEGUARD_STORE',
    type: 'string',
    values: STORES,
    default: 'auto',
    defaultText: '`auto`',
    description: '`kubernetes`, `memory`, or `auto`: Kubernetes when in a Pod or `KUBECONFIG` is set',
  },
  {
    name: 'kubeconfig',
    env: 'LEASEGUARD_KUBECONFIG',
    type: 'string',
    defaultText: '—',
    description: 'explicit kubeconfig file',
  },
  {
    name: 'leaseNamespace',
    env: 'LEASEGUARD_LEASE_NAMESPACE',
    type: 'string',
    pattern: { regex: DNS_LABEL, says: 'a namespace name' },
    defaultText: '`$POD_NAMESPACE`, else `leaseguard-system`',
    description: 'where Leases live',
  },
  {
    name: 'foreignLeaseNamespaces',
    env: 'LEASEGUARD_FOREIGN_LEASE_NAMESPACES',
    type: 'strings',
    default: [],
    defaultText: '— (none)',
    description:
      'the Lease namespaces of other leaseguard installations guarding the same kinds: an object their mutating webhook stamped for its own lock is theirs to count, ' +
      "not this duplicate monitor's, and a CREATE may carry their stamp. Empty: every object counts here, whatever its annotations say",
  },
  {
    name: 'guardedNamespaces',
    env: 'LEASEGUARD_GUARDED_NAMESPACES',
    type: 'strings',
    default: ['kubernaut-system'],
    defaultText: '`kubernaut-system`',
    description:
      "where guarded kinds may be created (a rule's `namespaces` overrides it): a CREATE elsewhere, or an UPDATE there that would take a lock, is refused (403), so a tenant who may create a guarded kind in its own namespace cannot pin another's keys. " +
      'Kubernaut creates its objects in its controller namespace. `*` allows every namespace: an explicit choice, reported by `leaseguard_namespaces_unrestricted` 1 and a warning at start',
  },
  {
    name: 'identity',
    env: 'LEASEGUARD_IDENTITY',
    type: 'string',
    defaultText: '`$POD_NAME`, else host name',
    description: "this replica's name in logs",
  },
  {
    name: 'timeoutSeconds',
    env: 'LEASEGUARD_TIMEOUT_SECONDS',
    type: 'integer',
    min: 1,
    max: 30,
    default: 5,
    defaultText: '5',
    description: "the webhooks' registered `timeoutSeconds` (1–30)",
  },
  {
    name: 'deadlineMs',
    env: 'LEASEGUARD_DEADLINE_MS',
    type: 'integer',
    min: 100,
    max: 30_000,
    defaultText: '`timeoutSeconds` − 1 s',
    description: 'leaseguard answers within this; must be below `timeoutSeconds`',
  },
  {
    name: 'apiServerRequestTimeoutSeconds',
    env: 'LEASEGUARD_APISERVER_REQUEST_TIMEOUT_SECONDS',
    type: 'integer',
    min: 1,
    max: 3600,
    default: 60,
    defaultText: '60',
    description: "your API servers' `--request-timeout`: the longest an admitted create can take to be stored",
  },
  {
    name: 'apiServerProbeSeconds',
    env: 'LEASEGUARD_APISERVER_PROBE_SECONDS',
    type: 'number',
    min: 0.1,
    max: 60,
    default: 1,
    defaultText: '1',
    description:
      'how often each replica checks that it reaches the API server (a list of one Lease in `leaseNamespace`), and how long one check may take. `/readyz` fails after ' +
      '`apiServerProbeFailures` failed checks in a row, or at once when an admission could not reach the API server, and passes at the next check that does, ' +
      "so endpoints drop a cut-off replica; keep the Deployment's readinessProbe as quick (`periodSeconds: 1`, `failureThreshold: 2`). A refusal (403) is an answer: it fails no check",
  },
  {
    name: 'apiServerProbeFailures',
    env: 'LEASEGUARD_APISERVER_PROBE_FAILURES',
    type: 'integer',
    min: 1,
    max: 60,
    default: 2,
    defaultText: '2',
    description: 'failed API server checks in a row that fail `/readyz`',
  },
  {
    name: 'pendingTimeoutSeconds',
    env: 'LEASEGUARD_PENDING_TIMEOUT_SECONDS',
    type: 'integer',
    min: 1,
    max: 3600,
    defaultText: '90 (30 with the embedded store)',
    description:
      'how long a `pending` Lease blocks its key; must exceed `timeoutSeconds` and `apiServerRequestTimeoutSeconds`',
  },
  {
    name: 'leaseFormat',
    env: 'LEASEGUARD_LEASE_FORMAT',
    type: 'integer',
    min: 1,
    max: 2,
    default: 1,
    defaultText: '1',
    description:
      'the Lease format this replica writes; it reads both (docs/lease.md). 1, the default, is the one every earlier release reads, so a rolling upgrade from one ' +
      'never meets a Lease it cannot read; set 2 (one packed annotation, about 950 bytes in etcd where 1 takes 1,700) once no replica older than this version runs',
  },
  {
    name: 'maxReviewBytes',
    env: 'LEASEGUARD_MAX_REVIEW_BYTES',
    type: 'integer',
    min: 16_384,
    max: 8_388_608,
    default: 262_144,
    defaultText: '262144 (256 KiB)',
    description:
      "an AdmissionReview body larger than this is refused with 413 before it is parsed. A kubernaut object is a few KiB and a review carries it at most twice (an UPDATE's " +
      '`object` and `oldObject`); raise it for guarded kinds with large objects (a review over it fails the call, and `failurePolicy` decides)',
  },
  {
    name: 'failOpen',
    env: 'LEASEGUARD_FAIL_OPEN',
    type: 'boolean',
    default: false,
    defaultText: 'false',
    description: 'admit (with a warning) when the lock cannot be verified',
  },
  {
    name: 'stampAnnotations',
    env: 'LEASEGUARD_STAMP_ANNOTATIONS',
    type: 'boolean',
    default: false,
    defaultText: 'false',
    description:
      '`webhook-config` (and the chart) also register the mutating webhook that stamps objects with their key and Lease: a second webhook call per guarded create ' +
      '([its measured cost](performance.md#what-stampannotations-costs)); switching it off later, delete the MutatingWebhookConfiguration',
  },
  {
    name: 'recordEvents',
    env: 'LEASEGUARD_RECORD_EVENTS',
    type: 'boolean',
    default: true,
    defaultText: 'true',
    description:
      'write Kubernetes Events about Leases in `leaseNamespace` for busy denials, take-overs and duplicate keys, aggregated with counts ' +
      '(a storm on one lock is one Event, its count rewritten at most once a second) and rate-limited per replica (new Events: 25 at once, then one every 5 s; count updates: 5 a second)',
  },
  {
    name: 'logLevel',
    env: 'LEASEGUARD_LOG_LEVEL',
    type: 'string',
    values: LOG_LEVELS,
    default: 'info',
    defaultText: '`info`',
    description: 'pino level',
  },
  {
    name: 'sweepIntervalSeconds',
    env: 'LEASEGUARD_SWEEP_INTERVAL_SECONDS',
    type: 'number',
    min: 1,
    max: 86_400,
    default: 60,
    defaultText: '60',
    description: 'how often the leader reviews every managed Lease',
  },
  {
    name: 'watchTimeoutSeconds',
    env: 'LEASEGUARD_WATCH_TIMEOUT_SECONDS',
    type: 'integer',
    min: 1,
    max: 3600,
    default: 300,
    defaultText: '300',
    description:
      "the API server ends each of the leader's watches after this long and a new one resumes; a watch still open 30 s later (a dead connection) is replaced",
  },
  {
    name: 'leaderLeaseDurationSeconds',
    env: 'LEASEGUARD_LEADER_LEASE_DURATION_SECONDS',
    type: 'number',
    min: 1,
    max: 3600,
    default: 15,
    defaultText: '15',
    description: 'leader election: how long an unrenewed leader keeps the role',
  },
  {
    name: 'leaderRenewDeadlineSeconds',
    env: 'LEASEGUARD_LEADER_RENEW_DEADLINE_SECONDS',
    type: 'number',
    min: 0.5,
    max: 3600,
    default: 10,
    defaultText: '10',
    description: 'a leader that cannot renew for this long steps down',
  },
  {
    name: 'leaderRetryPeriodSeconds',
    env: 'LEASEGUARD_LEADER_RETRY_PERIOD_SECONDS',
    type: 'number',
    min: 0.1,
    max: 600,
    default: 2,
    defaultText: '2',
    description: 'how often candidates try and the leader renews',
  },
  {
    name: 'shutdownDelaySeconds',
    env: 'LEASEGUARD_SHUTDOWN_DELAY_SECONDS',
    type: 'number',
    min: 0,
    max: 300,
    default: 5,
    defaultText: '5',
    description:
      'on SIGTERM, keep answering this long with `/readyz` failing (each answer closes its connection) before the listener closes, so endpoints drop the replica first; ' +
      "then in-flight admissions drain (up to 10 s). Ctrl-C (SIGINT) skips it. The Deployment's `terminationGracePeriodSeconds` (30) must exceed it plus the drain",
  },
  {
    name: 'serviceName',
    env: 'LEASEGUARD_SERVICE_NAME',
    type: 'string',
    default: 'leaseguard',
    defaultText: '`leaseguard`',
    description: 'the Service in front of leaseguard, for `certs` and `webhook-config`',
  },
  {
    name: 'serviceNamespace',
    env: 'LEASEGUARD_SERVICE_NAMESPACE',
    type: 'string',
    pattern: { regex: DNS_LABEL, says: 'a namespace name' },
    defaultText: '`$POD_NAMESPACE`, else `leaseguard-system`',
    description: "that Service's namespace, leaseguard's own (never guarded)",
  },
  {
    name: 'certificateSecret',
    env: 'LEASEGUARD_CERTIFICATE_SECRET',
    type: 'string',
    pattern: { regex: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', says: 'a Secret name' },
    defaultText: '—',
    description:
      'self-managed certificates: the Secret (in `leaseNamespace`) that holds the CA and the serving certificate; every replica reads it and serves from it (written into `certDir`), ' +
      "one is issued when none can be served, the leader renews it when a third of its life remains and keeps both webhook configurations' `caBundle` current",
  },
  {
    name: 'certificateLifetimeSeconds',
    env: 'LEASEGUARD_CERTIFICATE_LIFETIME_SECONDS',
    type: 'integer',
    min: 10,
    max: 315_360_000,
    default: 7_776_000,
    defaultText: '7776000 (90 days)',
    description:
      'with `certificateSecret`: how long a serving certificate lives (the CA: four times as long, replaced when two lifetimes remain)',
  },
  {
    name: 'webhookConfigurationName',
    env: 'LEASEGUARD_WEBHOOK_CONFIGURATION_NAME',
    type: 'string',
    default: 'leaseguard',
    defaultText: '`leaseguard`',
    description:
      "`metadata.name` of the webhook configurations: `webhook-config`'s default `--name`, and whose `caBundle` `certificateSecret` keeps current",
  },
  { name: 'rules', type: 'rules', defaultText: 'the two kubernaut kinds', description: 'guarded kinds (below)' },
  {
    name: 'includeDefaultRules',
    type: 'boolean',
    default: true,
    defaultText: 'true',
    description: 'keep the default rules next to those in `rules`',
  },
];

export interface RuleField extends Field<'string' | 'strings' | 'integer'> {
  readonly required: boolean;
}

export const RULE_FIELDS: readonly RuleField[] = [
  { name: 'group', type: 'string', required: true, description: 'API group of the guarded kind' },
  { name: 'version', type: 'string', required: true, description: 'its version, as in the webhook rules' },
  { name: 'kind', type: 'string', required: true, description: 'its kind' },
  {
    name: 'resource',
    type: 'string',
    required: true,
    pattern: { regex: DNS_LABEL, says: 'the lowercase plural resource name' },
    description: 'plural, as in the API path',
  },
  {
    name: 'keyPath',
    type: 'string',
    required: true,
    pattern: { regex: DOTTED_PATH, says: 'a dotted field path like spec.targetResource' },
    description: 'dotted path of the lock key (a string)',
  },
  {
    name: 'phasePath',
    type: 'string',
    required: true,
    pattern: { regex: DOTTED_PATH, says: 'a dotted field path like status.phase' },
    description: 'dotted path of the phase',
  },
  {
    name: 'terminalPhases',
    type: 'strings',
    required: true,
    description: 'phases in which the object no longer holds its key',
  },
  {
    name: 'scope',
    type: 'string',
    required: false,
    values: ['cluster', 'namespace'],
    default: 'cluster',
    description: "`namespace` prefixes the key with the object's namespace; default `cluster`",
  },
  {
    name: 'maxHoldSeconds',
    type: 'integer',
    required: false,
    min: 1,
    max: 365 * 86400,
    description: 'a holder older than this is taken over',
  },
  {
    name: 'namespaces',
    type: 'strings',
    required: false,
    description: 'where this kind may be created (default: `guardedNamespaces`); `*` for every namespace',
  },
  {
    name: 'mode',
    type: 'string',
    required: false,
    values: ['enforce', 'warn', 'dryrun'],
    description:
      '`enforce` (default) refuses; `warn` takes free locks but admits what enforce would refuse, with a warning; `dryrun` decides and records, writes no Lease, refuses nothing',
  },
  {
    name: 'normalize',
    type: 'string',
    required: false,
    values: KEY_NORMALIZATIONS,
    description:
      '`none` (default): keys are exact strings. `object-ref`: keys of the form `namespace/Kind/name` or `Kind/name` compare with the Kind case-insensitive (ASCII), namespace and name exact, ' +
      'so `prod/Deployment/api` and `prod/deployment/api` are one lock; `Kind.group` stays distinct from `Kind`, other shapes stay exact. ' +
      'Switching it renames the Leases of keys whose spelling changes: see [Key normalisation](#key-normalisation)',
  },
];

export const setting = (name: string): Setting => {
  const s = SETTINGS.find((x) => x.name === name);
  if (!s) throw new Error(`no setting ${name}`);
  return s;
};

type Json = Record<string, unknown>;

function scalarSchema(f: Field): Json {
  if (f.type === 'strings') return { type: 'array', items: { type: 'string', minLength: 1 } };
  const out: Json = { type: f.type };
  if (f.type === 'string') {
    if (f.values) out.enum = [...f.values];
    else out.minLength = 1;
    if (f.pattern) out.pattern = f.pattern.regex;
  }
  if (f.min !== undefined) out.minimum = f.min;
  if (f.max !== undefined) out.maximum = f.max;
  return out;
}

export function ruleJsonSchema(): Json {
  return {
    type: 'object',
    additionalProperties: false,
    required: RULE_FIELDS.filter((f) => f.required).map((f) => f.name),
    properties: Object.fromEntries(
      RULE_FIELDS.map((f) => {
        const s = {
          ...scalarSchema(f),
          ...(f.default !== undefined ? { default: f.default } : {}),
          description: f.description,
        };
        if (f.name === 'terminalPhases') Object.assign(s, { minItems: 1 });
        return [f.name, s];
      }),
    ),
  };
}

/** JSON Schema (draft 07) of leaseguard's config file. */
export function configJsonSchema(): Json {
  const properties: Json = {};
  for (const s of SETTINGS) {
    const base = s.type === 'rules' ? { type: 'array', items: ruleJsonSchema() } : scalarSchema(s);
    properties[s.name] = {
      ...base,
      ...(s.default !== undefined ? { default: s.default } : {}),
      description: s.description,
    };
  }
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'leaseguard configuration',
    type: 'object',
    additionalProperties: false,
    properties,
  };
}

/** The configuration table of docs/configuration.md (scripts/config-table.mjs writes it there). */
export function configTableMarkdown(): string {
  const rows = SETTINGS.map(
    (s) => `| \`${s.name}\` | ${s.env ? `\`${s.env}\`` : '—'} | ${s.defaultText} | ${s.description} |`,
  );
  return ['| setting | environment | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}
