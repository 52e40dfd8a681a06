// Configuration: defaults, then a YAML/JSON file (a mounted ConfigMap), then environment
// variables. Validated once at start; every problem is reported at once with its source.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { loadYaml } from '@kubernetes/client-node';
import { DEFAULT_RULES, type GuardRule } from './core/rules.js';
import { configError } from './errors.js';

export type StoreChoice = 'auto' | 'kubernetes' | 'memory';

export interface Config {
  /** HTTPS admission port. */
  admissionPort: number;
  /** Plain-HTTP metrics port. */
  metricsPort: number;
  host: string;
  /** Whether host was set rather than defaulted (the embedded store then defaults to 127.0.0.1). */
  hostSet: boolean;
  /** The embedded store keeps at most this many locks; beyond it new keys fail closed (503). */
  embeddedMaxLocks: number;
  /** Directory holding tls.crt and tls.key (and ca.crt); watched for changes. */
  certDir: string;
  /**
   * CA bundle (PEM) that signs the API server's client certificate. When set, the
   * admission endpoints accept only callers presenting a certificate it signed.
   */
  clientCaFile: string | undefined;
  /** With clientCaFile: the certificate subjects (CN or DNS SAN) allowed to call; empty: any it signed. */
  clientSubjects: string[];
  /** Generate development certificates into certDir when none exist. */
  generateCerts: boolean;
  store: StoreChoice;
  /** Explicit kubeconfig file; otherwise in-cluster config or $KUBECONFIG. */
  kubeconfig: string | undefined;
  /** Namespace of the Leases. */
  leaseNamespace: string;
  /** This replica's name, for logs and leader election. */
  identity: string;
  /** `timeoutSeconds` of the registered webhooks. */
  timeoutSeconds: number;
  /** The webhook answers within this many milliseconds, below timeoutSeconds. */
  deadlineMs: number;
  /**
   * The API server's request timeout (kube-apiserver --request-timeout): the longest an
   * admitted create can take to be stored, since other webhooks and admission steps run
   * alongside and after leaseguard.
   */
  apiServerRequestTimeoutSeconds: number;
  /** How long a pending Lease blocks its key before its object must have appeared; exceeds apiServerRequestTimeoutSeconds. */
  pendingTimeoutSeconds: number;
  /** Whether pendingTimeoutSeconds was set (file, environment or flag) rather than defaulted. */
  pendingTimeoutSet: boolean;
  /** Admit when the lock cannot be verified (API server down). Never the default. */
  failOpen: boolean;
  /**
   * Register the mutating webhook that stamps guarded objects with their key and Lease.
   * Off by default: it costs the API server a second webhook call per create, and no
   * decision or release depends on it.
   */
  stampAnnotations: boolean;
  logLevel: string;
  /** How often the leader reviews every managed Lease. */
  sweepIntervalSeconds: number;
  /** The API server ends each watch after this long; one still open 30 s later is replaced. */
  watchTimeoutSeconds: number;
  /** Leader election (client-go semantics): lease duration, renew deadline, retry period. */
  leaderLeaseDurationSeconds: number;
  leaderRenewDeadlineSeconds: number;
  leaderRetryPeriodSeconds: number;
  /**
   * On SIGTERM, keep serving this long with /readyz failing before the listener closes,
   * so endpoints drop the replica before it stops accepting (then in-flight admissions drain).
   */
  shutdownDelaySeconds: number;
  /** Service that fronts the webhook, for certificates and webhook registrations. */
  serviceName: string;
  serviceNamespace: string;
  rules: GuardRule[];
}

/** kube-apiserver's own default --request-timeout. */
const DEFAULT_REQUEST_TIMEOUT_SECONDS = 60;
/** Half as long again as the request timeout: room for etcd's commit after the deadline and for clock rates. */
const DEFAULT_PENDING_TIMEOUT_SECONDS = 90;

const EMBEDDED_PENDING_TIMEOUT_SECONDS = 30;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

interface Source {
  [k: string]: unknown;
}

const FILE_KEYS = new Set([
  'admissionPort',
  'metricsPort',
  'host',
  'embeddedMaxLocks',
  'certDir',
  'clientCaFile',
  'clientSubjects',
  'generateCerts',
  'store',
  'kubeconfig',
  'leaseNamespace',
  'identity',
  'timeoutSeconds',
  'deadlineMs',
  'pendingTimeoutSeconds',
  'apiServerRequestTimeoutSeconds',
  'failOpen',
  'stampAnnotations',
  'logLevel',
  'serviceName',
  'serviceNamespace',
  'sweepIntervalSeconds',
  'watchTimeoutSeconds',
  'leaderLeaseDurationSeconds',
  'leaderRenewDeadlineSeconds',
  'leaderRetryPeriodSeconds',
  'shutdownDelaySeconds',
  'rules',
  'includeDefaultRules',
]);

/** Environment variable → config field, parsed as the field's type. */
const ENV: ReadonlyArray<[string, string]> = [
  ['LEASEGUARD_ADMISSION_PORT', 'admissionPort'],
  ['LEASEGUARD_METRICS_PORT', 'metricsPort'],
  ['LEASEGUARD_HOST', 'host'],
  ['LEASEGUARD_EMBEDDED_MAX_LOCKS', 'embeddedMaxLocks'],
  ['LEASEGUARD_CERT_DIR', 'certDir'],
  ['LEASEGUARD_CLIENT_CA_FILE', 'clientCaFile'],
  ['LEASEGUARD_CLIENT_SUBJECTS', 'clientSubjects'],
  ['LEASEGUARD_GENERATE_CERTS', 'generateCerts'],
  ['LEASEGUARD_STORE', 'store'],
  ['LEASEGUARD_KUBECONFIG', 'kubeconfig'],
  ['LEASEGUARD_LEASE_NAMESPACE', 'leaseNamespace'],
  ['LEASEGUARD_IDENTITY', 'identity'],
  ['LEASEGUARD_TIMEOUT_SECONDS', 'timeoutSeconds'],
  ['LEASEGUARD_DEADLINE_MS', 'deadlineMs'],
  ['LEASEGUARD_PENDING_TIMEOUT_SECONDS', 'pendingTimeoutSeconds'],
  ['LEASEGUARD_APISERVER_REQUEST_TIMEOUT_SECONDS', 'apiServerRequestTimeoutSeconds'],
  ['LEASEGUARD_FAIL_OPEN', 'failOpen'],
  ['LEASEGUARD_STAMP_ANNOTATIONS', 'stampAnnotations'],
  ['LEASEGUARD_LOG_LEVEL', 'logLevel'],
  ['LEASEGUARD_SERVICE_NAME', 'serviceName'],
  ['LEASEGUARD_SERVICE_NAMESPACE', 'serviceNamespace'],
  ['LEASEGUARD_SWEEP_INTERVAL_SECONDS', 'sweepIntervalSeconds'],
  ['LEASEGUARD_WATCH_TIMEOUT_SECONDS', 'watchTimeoutSeconds'],
  ['LEASEGUARD_LEADER_LEASE_DURATION_SECONDS', 'leaderLeaseDurationSeconds'],
  ['LEASEGUARD_LEADER_RENEW_DEADLINE_SECONDS', 'leaderRenewDeadlineSeconds'],
  ['LEASEGUARD_LEADER_RETRY_PERIOD_SECONDS', 'leaderRetryPeriodSeconds'],
  ['LEASEGUARD_SHUTDOWN_DELAY_SECONDS', 'shutdownDelaySeconds'],
];

export interface LoadOptions {
  /** Path of the config file; LEASEGUARD_CONFIG when not given. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Values that win over file and environment (CLI flags, tests). */
  overrides?: Partial<Config>;
}

function readFile(path: string): Source {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw configError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = loadYaml(text);
  } catch (err) {
    throw configError(`config file ${path} is not valid YAML or JSON: ${(err as Error).message}`);
  }
  if (parsed === undefined || parsed === null) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw configError(`config file ${path} must hold a mapping of settings`);
  return parsed as Source;
}

class Problems {
  readonly list: string[] = [];
  add(msg: string): void {
    this.list.push(msg);
  }
}

function num(p: Problems, name: string, v: unknown, opts: { min: number; max: number; int?: boolean }): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || (opts.int && !Number.isInteger(n)) || n < opts.min || n > opts.max) {
    p.add(`${name} must be ${opts.int ? 'an integer' : 'a number'} from ${opts.min} to ${opts.max}, got ${JSON.stringify(v)}`);
    return opts.min;
  }
  return n;
}

function bool(p: Problems, name: string, v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  p.add(`${name} must be true or false, got ${JSON.stringify(v)}`);
  return false;
}

function str(p: Problems, name: string, v: unknown, allowEmpty = false): string {
  if (typeof v !== 'string' || (!allowEmpty && v.trim() === '')) {
    p.add(`${name} must be a ${allowEmpty ? '' : 'non-empty '}string, got ${JSON.stringify(v)}`);
    return '';
  }
  return v;
}

/** A list of non-empty strings: a YAML list, or comma-separated from the environment. */
function strList(p: Problems, name: string, v: unknown): string[] {
  const list = typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter((x) => x !== '') : v;
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string' && x.trim() !== '')) {
    p.add(`${name} must be a list of non-empty strings (comma-separated in the environment), got ${JSON.stringify(v)}`);
    return [];
  }
  return list as string[];
}

const DOTTED_PATH = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function parseRule(p: Problems, at: string, raw: unknown): GuardRule | undefined {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    p.add(`${at} must be a mapping with group, version, kind, resource, keyPath, phasePath, terminalPhases`);
    return undefined;
  }
  const r = raw as Source;
  const known = new Set(['group', 'version', 'kind', 'resource', 'keyPath', 'phasePath', 'terminalPhases', 'scope', 'maxHoldSeconds']);
  for (const k of Object.keys(r)) if (!known.has(k)) p.add(`${at}.${k} is not a rule setting (known: ${[...known].join(', ')})`);
  const keyPath = str(p, `${at}.keyPath`, r.keyPath);
  const phasePath = str(p, `${at}.phasePath`, r.phasePath);
  if (keyPath && !DOTTED_PATH.test(keyPath)) p.add(`${at}.keyPath must be a dotted field path like spec.targetResource, got ${JSON.stringify(keyPath)}`);
  if (phasePath && !DOTTED_PATH.test(phasePath)) p.add(`${at}.phasePath must be a dotted field path like status.phase, got ${JSON.stringify(phasePath)}`);
  const resource = str(p, `${at}.resource`, r.resource);
  if (resource && !DNS_LABEL.test(resource)) p.add(`${at}.resource must be the lowercase plural resource name, got ${JSON.stringify(resource)}`);
  const terminal = r.terminalPhases;
  if (!Array.isArray(terminal) || terminal.length === 0 || !terminal.every((x) => typeof x === 'string' && x !== '')) {
    p.add(`${at}.terminalPhases must be a non-empty list of phase names`);
  }
  const scope = r.scope ?? 'cluster';
  if (scope !== 'cluster' && scope !== 'namespace') p.add(`${at}.scope must be "cluster" or "namespace", got ${JSON.stringify(scope)}`);
  const rule: GuardRule = {
    group: str(p, `${at}.group`, r.group),
    version: str(p, `${at}.version`, r.version),
    kind: str(p, `${at}.kind`, r.kind),
    resource,
    keyPath,
    phasePath,
    terminalPhases: Array.isArray(terminal) ? (terminal as string[]) : [],
    scope: scope as GuardRule['scope'],
  };
  if (r.maxHoldSeconds !== undefined && r.maxHoldSeconds !== null) {
    rule.maxHoldSeconds = num(p, `${at}.maxHoldSeconds`, r.maxHoldSeconds, { min: 1, max: 365 * 86400, int: true });
  }
  return rule;
}

function parseRules(p: Problems, raw: unknown, includeDefaults: boolean): GuardRule[] {
  if (raw === undefined) return [...DEFAULT_RULES];
  if (!Array.isArray(raw)) {
    p.add('rules must be a list of rules');
    return [...DEFAULT_RULES];
  }
  const parsed = raw.map((r, i) => parseRule(p, `rules[${i}]`, r)).filter((r): r is GuardRule => r !== undefined);
  const merged = new Map<string, GuardRule>();
  if (includeDefaults) for (const r of DEFAULT_RULES) merged.set(`${r.group}/${r.kind}`, r);
  const seen = new Set<string>();
  for (const r of parsed) {
    const id = `${r.group}/${r.kind}`;
    if (seen.has(id)) p.add(`rules list ${id} twice; each kind has one rule`);
    seen.add(id);
    merged.set(id, r);
  }
  return [...merged.values()];
}

/**
 * With the embedded store there is no API server, so no request timeout to outlast: a
 * lock lasts a plain 30 seconds unless pendingTimeoutSeconds was set. And no API server
 * to call it: it listens on 127.0.0.1 unless host was set.
 */
export function embeddedConfig(config: Config): Config {
  return {
    ...config,
    ...(config.pendingTimeoutSet ? {} : { pendingTimeoutSeconds: EMBEDDED_PENDING_TIMEOUT_SECONDS }),
    ...(config.hostSet ? {} : { host: '127.0.0.1' }),
  };
}

export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const file = options.file ?? env.LEASEGUARD_CONFIG;
  const fromFile = file ? readFile(file) : {};
  const p = new Problems();
  for (const k of Object.keys(fromFile)) {
    if (!FILE_KEYS.has(k)) p.add(`${file}: unknown setting "${k}" (known: ${[...FILE_KEYS].join(', ')})`);
  }
  const merged: Source = { ...fromFile };
  for (const [envName, field] of ENV) {
    const v = env[envName];
    if (v !== undefined && v !== '') merged[field] = v;
  }
  for (const [k, v] of Object.entries(options.overrides ?? {})) if (v !== undefined) merged[k] = v;

  const podNamespace = env.POD_NAMESPACE || undefined;
  const timeoutSeconds = num(p, 'timeoutSeconds', merged.timeoutSeconds ?? 5, { min: 1, max: 30, int: true });
  const defaultDeadline = Math.max(timeoutSeconds * 1000 - Math.min(1000, timeoutSeconds * 200), 100);
  const config: Config = {
    admissionPort: num(p, 'admissionPort', merged.admissionPort ?? 8443, { min: 0, max: 65535, int: true }),
    metricsPort: num(p, 'metricsPort', merged.metricsPort ?? 9090, { min: 0, max: 65535, int: true }),
    host: str(p, 'host', merged.host ?? '0.0.0.0'),
    hostSet: merged.host !== undefined,
    embeddedMaxLocks: num(p, 'embeddedMaxLocks', merged.embeddedMaxLocks ?? 100_000, { min: 1, max: 10_000_000, int: true }),
    certDir: str(p, 'certDir', merged.certDir ?? 'certs'),
    clientCaFile: merged.clientCaFile === undefined ? undefined : str(p, 'clientCaFile', merged.clientCaFile),
    clientSubjects: strList(p, 'clientSubjects', merged.clientSubjects ?? []),
    generateCerts: bool(p, 'generateCerts', merged.generateCerts ?? false),
    store: str(p, 'store', merged.store ?? 'auto') as StoreChoice,
    kubeconfig: merged.kubeconfig === undefined ? undefined : str(p, 'kubeconfig', merged.kubeconfig),
    leaseNamespace: str(p, 'leaseNamespace', merged.leaseNamespace ?? podNamespace ?? 'leaseguard-system'),
    identity: str(p, 'identity', merged.identity ?? (env.POD_NAME || hostname())),
    timeoutSeconds,
    deadlineMs: num(p, 'deadlineMs', merged.deadlineMs ?? defaultDeadline, { min: 100, max: 30_000, int: true }),
    apiServerRequestTimeoutSeconds: num(p, 'apiServerRequestTimeoutSeconds', merged.apiServerRequestTimeoutSeconds ?? DEFAULT_REQUEST_TIMEOUT_SECONDS, { min: 1, max: 3600, int: true }),
    pendingTimeoutSeconds: num(p, 'pendingTimeoutSeconds', merged.pendingTimeoutSeconds ?? DEFAULT_PENDING_TIMEOUT_SECONDS, { min: 1, max: 3600, int: true }),
    pendingTimeoutSet: merged.pendingTimeoutSeconds !== undefined,
    failOpen: bool(p, 'failOpen', merged.failOpen ?? false),
    stampAnnotations: bool(p, 'stampAnnotations', merged.stampAnnotations ?? false),
    logLevel: str(p, 'logLevel', merged.logLevel ?? 'info'),
    serviceName: str(p, 'serviceName', merged.serviceName ?? 'leaseguard'),
    serviceNamespace: str(p, 'serviceNamespace', merged.serviceNamespace ?? podNamespace ?? 'leaseguard-system'),
    sweepIntervalSeconds: num(p, 'sweepIntervalSeconds', merged.sweepIntervalSeconds ?? 60, { min: 1, max: 86_400 }),
    watchTimeoutSeconds: num(p, 'watchTimeoutSeconds', merged.watchTimeoutSeconds ?? 300, { min: 1, max: 3600, int: true }),
    leaderLeaseDurationSeconds: num(p, 'leaderLeaseDurationSeconds', merged.leaderLeaseDurationSeconds ?? 15, { min: 1, max: 3600 }),
    leaderRenewDeadlineSeconds: num(p, 'leaderRenewDeadlineSeconds', merged.leaderRenewDeadlineSeconds ?? 10, { min: 0.5, max: 3600 }),
    leaderRetryPeriodSeconds: num(p, 'leaderRetryPeriodSeconds', merged.leaderRetryPeriodSeconds ?? 2, { min: 0.1, max: 600 }),
    shutdownDelaySeconds: num(p, 'shutdownDelaySeconds', merged.shutdownDelaySeconds ?? 5, { min: 0, max: 300 }),
    rules: parseRules(p, merged.rules, merged.includeDefaultRules === undefined ? true : bool(p, 'includeDefaultRules', merged.includeDefaultRules)),
  };

  if (!['auto', 'kubernetes', 'memory'].includes(config.store)) p.add(`store must be auto, kubernetes or memory, got ${JSON.stringify(config.store)}`);
  if (!LOG_LEVELS.includes(config.logLevel)) p.add(`logLevel must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(config.logLevel)}`);
  if (!DNS_LABEL.test(config.leaseNamespace)) p.add(`leaseNamespace must be a namespace name, got ${JSON.stringify(config.leaseNamespace)}`);
  if (config.admissionPort !== 0 && config.admissionPort === config.metricsPort) p.add('admissionPort and metricsPort must differ');
  if (config.deadlineMs >= config.timeoutSeconds * 1000) {
    p.add(`deadlineMs (${config.deadlineMs}) must be below timeoutSeconds (${config.timeoutSeconds}s) so leaseguard answers before the API server gives up`);
  }
  if (config.pendingTimeoutSeconds <= config.timeoutSeconds) {
    p.add(
      `pendingTimeoutSeconds (${config.pendingTimeoutSeconds}) must exceed timeoutSeconds (${config.timeoutSeconds}): ` +
        'a pending lock may only be reclaimed once its create can no longer be in flight',
    );
  }
  // (The embedded store has no API server, so no request timeout to outlast.)
  if (config.store !== 'memory' && config.pendingTimeoutSeconds <= config.apiServerRequestTimeoutSeconds) {
    p.add(
      `pendingTimeoutSeconds (${config.pendingTimeoutSeconds}) must exceed apiServerRequestTimeoutSeconds (${config.apiServerRequestTimeoutSeconds}): ` +
        'other webhooks and admission steps run alongside and after leaseguard, so an admitted create may be stored as late as the API server\'s ' +
        'request timeout (kube-apiserver --request-timeout); a pending lock reclaimed sooner can admit a duplicate. ' +
        'Raise pendingTimeoutSeconds, or set apiServerRequestTimeoutSeconds to the --request-timeout your API servers run with',
    );
  }
  for (const r of config.rules) {
    if (r.maxHoldSeconds !== undefined && r.maxHoldSeconds <= config.pendingTimeoutSeconds) {
      p.add(`rule ${r.group}/${r.kind}: maxHoldSeconds (${r.maxHoldSeconds}) must exceed pendingTimeoutSeconds (${config.pendingTimeoutSeconds})`);
    }
  }
  if (config.leaderLeaseDurationSeconds <= config.leaderRenewDeadlineSeconds) {
    p.add(`leaderLeaseDurationSeconds (${config.leaderLeaseDurationSeconds}) must exceed leaderRenewDeadlineSeconds (${config.leaderRenewDeadlineSeconds})`);
  }
  if (config.leaderRenewDeadlineSeconds <= config.leaderRetryPeriodSeconds * 1.2) {
    p.add(`leaderRenewDeadlineSeconds (${config.leaderRenewDeadlineSeconds}) must exceed 1.2 × leaderRetryPeriodSeconds (${config.leaderRetryPeriodSeconds})`);
  }
  if (config.clientSubjects.length > 0 && !config.clientCaFile) {
    p.add('clientSubjects needs clientCaFile: subjects are read from client certificates that the client CA verified');
  }
  if (config.rules.length === 0) p.add('no guarded kinds: rules is empty and includeDefaultRules is false');
  if (p.list.length > 0) {
    const source = file ? ` (file ${file}, then LEASEGUARD_* environment variables)` : ' (LEASEGUARD_* environment variables)';
    throw configError(`invalid configuration${source}:\n  - ${p.list.join('\n  - ')}`);
  }
  return config;
}
