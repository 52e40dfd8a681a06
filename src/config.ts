// Configuration: defaults, then a YAML/JSON file (a mounted ConfigMap), then environment
// variables. Validated once at start against the schema in config-schema.ts; every
// problem is reported at once with its source.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { loadYaml } from '@kubernetes/client-node';
import { ANY_NAMESPACE, DEFAULT_RULES, ruleId, type GuardRule } from './core/rules.js';
import { configError } from './errors.js';
import { DNS_LABEL, RULE_FIELDS, SETTINGS, setting, type Field } from './config-schema.js';

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
  /** With the Kubernetes store: at most this many Leases in leaseNamespace; past it new keys fail closed (503). */
  maxLeases: number;
  /** Directory holding tls.crt and tls.key (and ca.crt); watched for changes. */
  certDir: string;
  /**
   * CA bundle (PEM) that signs the API server's client certificate. When set, the
   * admission endpoints accept only callers presenting a certificate it signed.
   */
  clientCaFile: string | undefined;
  /** With clientCaFile: the user names (the certificate's last CN, as Kubernetes reads it) allowed to call; empty: any it signed. */
  clientSubjects: string[];
  /** With clientSubjects: a DNS SAN among them also passes. Off: Kubernetes never reads SANs as the user. */
  clientSubjectsMatchSans: boolean;
  /** Serve without clientCaFile on the Kubernetes store: an explicit, named choice (managed clusters). */
  allowUnauthenticatedCallers: boolean;
  /** Generate development certificates into certDir when none exist. */
  generateCerts: boolean;
  store: StoreChoice;
  /** Explicit kubeconfig file; otherwise in-cluster config or $KUBECONFIG. */
  kubeconfig: string | undefined;
  /** Namespace of the Leases. */
  leaseNamespace: string;
  /** Other installations' Lease namespaces: only their stamps mark an object as theirs. Empty by default. */
  foreignLeaseNamespaces: string[];
  guardedNamespaces: string[];
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
  /** How often each replica checks that it reaches the API server, and how long a check may take. */
  apiServerProbeSeconds: number;
  /** Failed checks in a row that fail /readyz. */
  apiServerProbeFailures: number;
  /** How long a pending Lease blocks its key before its object must have appeared; exceeds apiServerRequestTimeoutSeconds. */
  pendingTimeoutSeconds: number;
  /** Whether pendingTimeoutSeconds was set (file, environment or flag) rather than defaulted. */
  pendingTimeoutSet: boolean;
  /** The Lease format written (both are read): 1 only while replicas of a release that reads format 1 only still run. */
  leaseFormat: 1 | 2;
  /** AdmissionReview bodies larger than this are refused with 413 before they are parsed. */
  maxReviewBytes: number;
  /** Admit when the lock cannot be verified (API server down). Never the default. */
  failOpen: boolean;
  /**
   * Register the mutating webhook that stamps guarded objects with their key and Lease.
   * Off by default: it costs the API server a second webhook call per create, and no
   * decision or release depends on it.
   */
  stampAnnotations: boolean;
  /** Busy denials, take-overs and duplicate keys as aggregated Kubernetes Events. */
  recordEvents: boolean;
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
  /** Self-managed certificates: the Secret that holds them, in leaseNamespace. */
  certificateSecret: string | undefined;
  certificateLifetimeSeconds: number;
  /** metadata.name of the webhook configurations. */
  webhookConfigurationName: string;
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

interface Source {
  [k: string]: unknown;
}

const FILE_KEYS = new Set(SETTINGS.map((s) => s.name));

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
  if (typeof parsed !== 'object' || Array.isArray(parsed))
    throw configError(`config file ${path} must hold a mapping of settings`);
  return parsed as Source;
}

class Problems {
  readonly list: string[] = [];
  add(...msgs: string[]): void {
    this.list.push(...msgs);
  }
}

const orList = (values: readonly string[]) =>
  values.length < 2 ? values.join('') : `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`;

/**
 * One value checked against its shape in the schema; strings from the environment are
 * read as the type. On a problem, records it and returns a placeholder of the type.
 */
function check(p: Problems, name: string, f: Field, v: unknown): unknown {
  switch (f.type) {
    case 'integer':
    case 'number': {
      const int = f.type === 'integer';
      const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
      const min = f.min ?? -Infinity;
      const max = f.max ?? Infinity;
      if (typeof n !== 'number' || !Number.isFinite(n) || (int && !Number.isInteger(n)) || n < min || n > max) {
        p.add(`${name} must be ${int ? 'an integer' : 'a number'} from ${min} to ${max}, got ${JSON.stringify(v)}`);
        return f.min ?? 0;
      }
      return n;
    }
    case 'boolean':
      if (typeof v === 'boolean') return v;
      if (v === 'true' || v === '1') return true;
      if (v === 'false' || v === '0') return false;
      p.add(`${name} must be true or false, got ${JSON.stringify(v)}`);
      return false;
    case 'string':
      if (typeof v !== 'string' || v.trim() === '') {
        p.add(`${name} must be ${f.values ? orList(f.values) : 'a non-empty string'}, got ${JSON.stringify(v)}`);
        return f.values?.[0] ?? '';
      }
      if (f.values && !f.values.includes(v)) p.add(`${name} must be ${orList(f.values)}, got ${JSON.stringify(v)}`);
      if (f.pattern && !new RegExp(f.pattern.regex).test(v))
        p.add(`${name} must be ${f.pattern.says}, got ${JSON.stringify(v)}`);
      return v;
    case 'strings': {
      // A YAML list, or comma-separated from the environment.
      const list =
        typeof v === 'string'
          ? v
              .split(',')
              .map((x) => x.trim())
              .filter((x) => x !== '')
          : v;
      if (!Array.isArray(list) || !list.every((x) => typeof x === 'string' && x.trim() !== '')) {
        p.add(
          `${name} must be a list of non-empty strings (comma-separated in the environment), got ${JSON.stringify(v)}`,
        );
        return [];
      }
      return list;
    }
    case 'rules':
      throw new Error('rules are checked by parseRules');
  }
}

function parseRule(p: Problems, at: string, raw: unknown): GuardRule | undefined {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    p.add(
      `${at} must be a mapping with ${RULE_FIELDS.filter((f) => f.required)
        .map((f) => f.name)
        .join(', ')}`,
    );
    return undefined;
  }
  const r = raw as Source;
  const known = RULE_FIELDS.map((f) => f.name);
  for (const k of Object.keys(r))
    if (!known.includes(k)) p.add(`${at}.${k} is not a rule setting (known: ${known.join(', ')})`);
  const out: Source = {};
  for (const f of RULE_FIELDS) {
    const v = r[f.name];
    if (v === undefined || v === null) {
      if (f.required) check(p, `${at}.${f.name}`, f, v);
      else if (f.default !== undefined) out[f.name] = f.default;
      continue;
    }
    out[f.name] = check(p, `${at}.${f.name}`, f, v);
  }
  if (Array.isArray(out.terminalPhases) && out.terminalPhases.length === 0)
    p.add(`${at}.terminalPhases must name at least one phase`);
  return out as unknown as GuardRule;
}

function parseRules(p: Problems, raw: unknown, includeDefaults: boolean): GuardRule[] {
  if (raw === undefined) return [...DEFAULT_RULES];
  if (!Array.isArray(raw)) {
    p.add('rules must be a list of rules');
    return [...DEFAULT_RULES];
  }
  const parsed = raw.map((r, i) => parseRule(p, `rules[${i}]`, r)).filter((r): r is GuardRule => r !== undefined);
  const merged = new Map<string, GuardRule>();
  if (includeDefaults) for (const r of DEFAULT_RULES) merged.set(ruleId(r), r);
  const seen = new Set<string>();
  for (const r of parsed) {
    const id = ruleId(r);
    if (seen.has(id)) p.add(`rules list ${id} twice; each kind has one rule`);
    seen.add(id);
    merged.set(id, r);
  }
  return [...merged.values()];
}

/** What is wrong with a list of namespaces where a guarded kind may be created. */
function namespacesProblems(at: string, namespaces: readonly string[], own: readonly string[]): string[] {
  if (namespaces.length === 0)
    return [
      `${at}: no namespace may create it (namespaces or guardedNamespaces is empty): name the namespaces, or ${ANY_NAMESPACE} for all`,
    ];
  if (namespaces.includes(ANY_NAMESPACE))
    return namespaces.length > 1 ? [`${at}: ${ANY_NAMESPACE} allows every namespace; list it alone`] : [];
  const bad = namespaces.filter((ns) => !new RegExp(DNS_LABEL).test(ns));
  if (bad.length > 0)
    return [
      `${at}: namespaces must be namespace names or ${ANY_NAMESPACE}, got ${bad.map((b) => JSON.stringify(b)).join(', ')}`,
    ];
  const mine = namespaces.filter((ns) => own.includes(ns));
  if (mine.length > 0)
    return [
      `${at}: ${mine.join(', ')} is leaseguard's own namespace, which its webhooks never see; guarded objects are created elsewhere`,
    ];
  return [];
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
  for (const s of SETTINGS) {
    const v = s.env ? env[s.env] : undefined;
    if (v !== undefined && v !== '') merged[s.name] = v;
  }
  for (const [k, v] of Object.entries(options.overrides ?? {})) if (v !== undefined) merged[k] = v;

  /** A setting's value: as given, else the fallback derived here, else its default in the schema. */
  const get = <T>(name: string, fallback?: T): T => {
    const s = setting(name);
    return check(p, name, s, merged[name] ?? fallback ?? s.default) as T;
  };
  const optional = (name: string): string | undefined => (merged[name] === undefined ? undefined : get<string>(name));
  const podNamespace = env.POD_NAMESPACE || undefined;
  const timeoutSeconds = get<number>('timeoutSeconds');
  const defaultDeadline = Math.max(timeoutSeconds * 1000 - Math.min(1000, timeoutSeconds * 200), 100);
  const config: Config = {
    admissionPort: get('admissionPort'),
    metricsPort: get('metricsPort'),
    host: get('host', '0.0.0.0'),
    hostSet: merged.host !== undefined,
    embeddedMaxLocks: get('embeddedMaxLocks'),
    maxLeases: get('maxLeases'),
    certDir: get('certDir'),
    clientCaFile: optional('clientCaFile'),
    clientSubjects: get('clientSubjects'),
    clientSubjectsMatchSans: get('clientSubjectsMatchSans'),
    allowUnauthenticatedCallers: get('allowUnauthenticatedCallers'),
    generateCerts: get('generateCerts'),
    store: get('store'),
    kubeconfig: optional('kubeconfig'),
    leaseNamespace: get('leaseNamespace', podNamespace ?? 'leaseguard-system'),
    foreignLeaseNamespaces: get('foreignLeaseNamespaces'),
    guardedNamespaces: get('guardedNamespaces'),
    identity: get('identity', env.POD_NAME || hostname()),
    timeoutSeconds,
    deadlineMs: get('deadlineMs', defaultDeadline),
    apiServerRequestTimeoutSeconds: get('apiServerRequestTimeoutSeconds', DEFAULT_REQUEST_TIMEOUT_SECONDS),
    apiServerProbeSeconds: get('apiServerProbeSeconds'),
    apiServerProbeFailures: get('apiServerProbeFailures'),
    pendingTimeoutSeconds: get('pendingTimeoutSeconds', DEFAULT_PENDING_TIMEOUT_SECONDS),
    pendingTimeoutSet: merged.pendingTimeoutSeconds !== undefined,
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- the schema bounds it to 1..2
    leaseFormat: get('leaseFormat') as 1 | 2,
    maxReviewBytes: get('maxReviewBytes'),
    failOpen: get('failOpen'),
    stampAnnotations: get('stampAnnotations'),
    recordEvents: get('recordEvents'),
    logLevel: get('logLevel'),
    serviceName: get('serviceName'),
    serviceNamespace: get('serviceNamespace', podNamespace ?? 'leaseguard-system'),
    sweepIntervalSeconds: get('sweepIntervalSeconds'),
    watchTimeoutSeconds: get('watchTimeoutSeconds'),
    leaderLeaseDurationSeconds: get('leaderLeaseDurationSeconds'),
    leaderRenewDeadlineSeconds: get('leaderRenewDeadlineSeconds'),
    leaderRetryPeriodSeconds: get('leaderRetryPeriodSeconds'),
    shutdownDelaySeconds: get('shutdownDelaySeconds'),
    certificateSecret: optional('certificateSecret'),
    certificateLifetimeSeconds: get('certificateLifetimeSeconds'),
    webhookConfigurationName: get('webhookConfigurationName'),
    rules: parseRules(p, merged.rules, get('includeDefaultRules')),
  };

  if (config.admissionPort !== 0 && config.admissionPort === config.metricsPort)
    p.add('admissionPort and metricsPort must differ');
  if (config.deadlineMs >= config.timeoutSeconds * 1000) {
    p.add(
      `deadlineMs (${config.deadlineMs}) must be below timeoutSeconds (${config.timeoutSeconds}s) so leaseguard answers before the API server gives up`,
    );
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
        "other webhooks and admission steps run alongside and after leaseguard, so an admitted create may be stored as late as the API server's " +
        'request timeout (kube-apiserver --request-timeout); a pending lock reclaimed sooner can admit a duplicate. ' +
        'Raise pendingTimeoutSeconds, or set apiServerRequestTimeoutSeconds to the --request-timeout your API servers run with',
    );
  }
  config.rules = config.rules.map((r) => (r.namespaces ? r : { ...r, namespaces: config.guardedNamespaces }));
  for (const r of config.rules) {
    const at = `rule ${r.group}/${r.kind}`;
    p.add(...namespacesProblems(at, r.namespaces ?? [], [config.leaseNamespace, config.serviceNamespace]));
    if (r.maxHoldSeconds !== undefined && r.maxHoldSeconds <= config.pendingTimeoutSeconds) {
      p.add(
        `rule ${r.group}/${r.kind}: maxHoldSeconds (${r.maxHoldSeconds}) must exceed pendingTimeoutSeconds (${config.pendingTimeoutSeconds})`,
      );
    }
  }
  if (config.leaderLeaseDurationSeconds <= config.leaderRenewDeadlineSeconds) {
    p.add(
      `leaderLeaseDurationSeconds (${config.leaderLeaseDurationSeconds}) must exceed leaderRenewDeadlineSeconds (${config.leaderRenewDeadlineSeconds})`,
    );
  }
  if (config.leaderRenewDeadlineSeconds <= config.leaderRetryPeriodSeconds * 1.2) {
    p.add(
      `leaderRenewDeadlineSeconds (${config.leaderRenewDeadlineSeconds}) must exceed 1.2 × leaderRetryPeriodSeconds (${config.leaderRetryPeriodSeconds})`,
    );
  }
  if (config.clientSubjectsMatchSans && config.clientSubjects.length === 0)
    p.add('clientSubjectsMatchSans needs clientSubjects: it widens what they match');
  if (config.clientSubjects.length > 0 && !config.clientCaFile) {
    p.add('clientSubjects needs clientCaFile: subjects are read from client certificates that the client CA verified');
  }
  for (const ns of config.foreignLeaseNamespaces) {
    if (!new RegExp(DNS_LABEL).test(ns))
      p.add(`foreignLeaseNamespaces must hold namespace names, got ${JSON.stringify(ns)}`);
    else if (ns === config.leaseNamespace)
      p.add(`foreignLeaseNamespaces names leaseNamespace (${ns}) itself: it lists other installations`);
  }
  if (config.clientCaFile && config.allowUnauthenticatedCallers) {
    p.add(
      'allowUnauthenticatedCallers and clientCaFile contradict each other: with clientCaFile callers are authenticated; drop allowUnauthenticatedCallers',
    );
  }
  if (config.certificateSecret && config.store === 'memory')
    p.add('certificateSecret needs the Kubernetes store: the certificate lives in a Secret');
  if (config.rules.length === 0) p.add('no guarded kinds: rules is empty and includeDefaultRules is false');
  if (p.list.length > 0) {
    const source = file
      ? ` (file ${file}, then LEASEGUARD_* environment variables)`
      : ' (LEASEGUARD_* environment variables)';
    throw configError(`invalid configuration${source}:\n  - ${p.list.join('\n  - ')}`);
  }
  return config;
}

/**
 * Why leaseguard must not serve as configured (asked by serve once its store is open,
 * since store auto is decided then; other commands only read the configuration): on a real API server (not the embedded
 * store, which listens on loopback), callers must be authenticated unless the choice not
 * to is spelled out. Undefined when it may.
 */
export function callerAuthenticationProblem(
  c: Pick<Config, 'clientCaFile' | 'allowUnauthenticatedCallers'>,
  embedded: boolean,
): string | undefined {
  if (embedded || c.clientCaFile || c.allowUnauthenticatedCallers) return undefined;
  return (
    "clientCaFile is not set, so anyone who reaches the admission port could take and probe locks. Set clientCaFile to the CA that signed the API server's client certificate " +
    '(leaseguard certs, then leaseguard apiserver-config for kube-apiserver --admission-control-config-file; docs/install.md), ' +
    "or, where the API server cannot present one (managed clusters), set allowUnauthenticatedCallers: true and restrict the admission port's sources with the NetworkPolicy"
  );
}
