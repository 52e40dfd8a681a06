// Self-managed serving certificates (certificateSecret): the Secret in leaseguard's
// namespace holds the CA bundle, the CA key and the serving pair. Every replica reads it
// from the API server and writes the pair into certDir for the HTTPS server (the
// CertReloader serves each change), so no kubelet sync delay lies between a renewal and
// its use, and a first replica can start before any certificate exists. Any replica
// issues a certificate when there is none it could serve; only the leader renews. Before
// a Secret with a new CA is written, the webhook configurations' caBundle gains that CA,
// and before a replica serves a pair it has not served yet, caBundle gains the Secret's
// CAs, so the API server trusts each certificate before a replica serves it. Gaining
// never removes: replicas issuing at once each add their CA, and the one whose Secret
// lost the race still finds the winner's CA trusted (replacing would drop it).
//
// caBundle is exactly the unexpired CAs this installation issued. Which those are is
// recorded by fingerprint on the Secret (ISSUED_CAS_ANNOTATION), written only by
// leaseguard (the shipped certificate-Secret policy lets no one else write the Secret): a
// CA someone else puts into ca.crt is never published and a signer leaseguard did not
// issue is replaced, and once the Secret is restored, caBundle holds its CAs and no other.
// The leader makes caBundle exactly that on every check, so what gaining added and no
// Secret names (a race's losers) leaves within one interval.
// A Secret without the record (written before it existed) is taken as it is, once: its
// CAs were published already, and the next write records them.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdir, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ErrorCodes, hasCode } from '../errors.js';
import { toStoreError } from '../kube/api-errors.js';
import type { KubeClients } from '../kube/kube-client.js';
import type { Metrics } from '../metrics.js';
import { BACKDATE_MS, CERT_FILES, issueCa, issueServingCertificate } from './certificates.js';
import { CA_LIFETIMES, planCertificates, type SecretFacts } from './certificate-plan.js';

export interface CertificateManagerOptions {
  kube: KubeClients;
  namespace: string;
  secretName: string;
  /** DNS names and addresses the serving certificate must carry. */
  names: string[];
  lifetimeMs: number;
  /** metadata.name of the Validating/MutatingWebhookConfiguration whose caBundle follows. */
  webhookName: string;
  /** Where the serving pair is written for the HTTPS server. */
  certDir: string;
  metrics: Metrics;
  logger: Logger;
  now?: () => number;
}

interface SecretObject {
  metadata?: { resourceVersion?: string; annotations?: Record<string, string> };
  data?: Record<string, string>;
}

/** The directories #writeFiles makes, one per version written: `..<ms>.<pid>`. */
const VERSION_DIR = /^\.\.\d+\.\d+$/;

/** On the certificate Secret: the SHA-256 fingerprints (comma-separated) of the CAs leaseguard issued into it. */
export const ISSUED_CAS_ANNOTATION = 'leaseguard.kubernaut.ai/issued-cas';

/** The CAs the Secret records as leaseguard's; undefined for a Secret without the record. */
export function issuedCas(secret: SecretObject | undefined): Set<string> | undefined {
  const v = secret?.metadata?.annotations?.[ISSUED_CAS_ANNOTATION];
  return v === undefined ? undefined : new Set(v.split(',').filter(Boolean));
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const decode = (b64: string | undefined) => (b64 ? Buffer.from(b64, 'base64').toString('utf8') : '');

/** The CAs of a PEM bundle, in order; unreadable blocks are left out. */
export function splitBundle(pem: string): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const block of pem.match(PEM_BLOCK) ?? []) {
    try {
      out.push(new X509Certificate(block));
    } catch {
      // a damaged block counts as absent: the plan replaces what is missing
    }
  }
  return out;
}

/** A PEM bundle of certificates, one normalised block each (line endings included). */
const joinBundle = (certs: X509Certificate[]): string => `${certs.map((c) => c.toString().trim()).join('\n')}\n`;

const keyMatches = (cert: X509Certificate, keyPem: string): boolean => {
  try {
    return keyPem !== '' && cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
};

const facts = (c: X509Certificate) => ({
  fingerprint: c.fingerprint256,
  notBeforeMs: Date.parse(c.validFrom),
  notAfterMs: Date.parse(c.validTo),
});

/** What the Secret holds, as the plan reads it. */
export function readSecretFacts(
  data: Record<string, string> | undefined,
  names: string[],
  issued?: ReadonlySet<string>,
): SecretFacts | undefined {
  if (!data) return undefined;
  const cas = splitBundle(decode(data[CERT_FILES.caCert]));
  let serving: SecretFacts['serving'];
  try {
    const cert = new X509Certificate(decode(data[CERT_FILES.cert]));
    const sans = (cert.subjectAltName ?? '').split(', ').map((s) => s.replace(/^(DNS|IP Address):/, ''));
    serving = {
      ...facts(cert),
      issuer: cas.find((ca) => cert.verify(ca.publicKey))?.fingerprint256,
      namesMatch: names.every((n) => sans.includes(n)),
      keyMatches: keyMatches(cert, decode(data[CERT_FILES.key])),
    };
  } catch {
    serving = undefined;
  }
  const ca = (c: X509Certificate) => ({ ...facts(c), ...(issued ? { issued: issued.has(c.fingerprint256) } : {}) });
  return {
    cas: cas.map(ca),
    caKeyMatches: cas[0] !== undefined && keyMatches(cas[0], decode(data[CERT_FILES.caKey])),
    ...(serving ? { serving } : {}),
  };
}

export class CertificateManager {
  readonly #o: CertificateManagerOptions;
  readonly #now: () => number;
  #written = '';
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(o: CertificateManagerOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  /** How often replicas read the Secret and the leader checks for renewal. */
  get intervalMs(): number {
    return Math.max(500, Math.min(10_000, this.#o.lifetimeMs / 20));
  }

  #secretPath(): string {
    return `/api/v1/namespaces/${encodeURIComponent(this.#o.namespace)}/secrets/${encodeURIComponent(this.#o.secretName)}`;
  }

  async #read(): Promise<SecretObject | undefined> {
    try {
      return (await this.#o.kube.json('GET', this.#secretPath(), undefined)) as SecretObject;
    } catch (err) {
      const e = toStoreError(err, `reading Secret ${this.#o.namespace}/${this.#o.secretName}`);
      if (hasCode(e, ErrorCodes.STORE_NOT_FOUND)) return undefined;
      throw e;
    }
  }

  /**
   * Reads the Secret, issues what it needs (anyone when nothing in it can be served; only
   * with `renew` otherwise), and writes the pair to serve into certDir. Returns whether
   * certDir changed.
   */
  async reconcile(renew: boolean): Promise<boolean> {
    let secret = await this.#read();
    const now = this.#now();
    const plan = planCertificates(
      readSecretFacts(secret?.data, this.#o.names, issuedCas(secret)),
      now,
      this.#o.lifetimeMs,
    );
    if ((plan.newCa || plan.newServing) && (renew || !plan.servable)) {
      secret = await this.#issue(secret, plan.newCa, plan.keep, plan.reason ?? 'missing', now);
    }
    const data = secret?.data ?? {};
    if (renew) await this.syncCaBundle(decode(data[CERT_FILES.caCert]), issuedCas(secret));
    // A pair new to this replica: its CAs trusted first (a reinstall's fresh webhook
    // configurations have no caBundle, and a leader may be a lease duration away).
    else if (data[CERT_FILES.cert] && this.#stamp(data) !== this.#written)
      await this.syncCaBundle(decode(data[CERT_FILES.caCert]), issuedCas(secret), 'gain');
    return this.#writeFiles(data);
  }

  #stamp(data: Record<string, string>): string {
    return `${data[CERT_FILES.cert] ?? ''}${data[CERT_FILES.key] ?? ''}${data[CERT_FILES.caCert] ?? ''}`;
  }

  async #issue(
    secret: SecretObject | undefined,
    newCa: boolean,
    keep: string[],
    reason: string,
    now: number,
  ): Promise<SecretObject | undefined> {
    const o = this.#o;
    const notBefore = new Date(now - BACKDATE_MS);
    const old = splitBundle(decode(secret?.data?.[CERT_FILES.caCert])).filter((c) => keep.includes(c.fingerprint256));
    const ca = newCa
      ? await issueCa(o.namespace, notBefore, new Date(now + CA_LIFETIMES * o.lifetimeMs))
      : { cert: old[0]!.toString(), key: decode(secret?.data?.[CERT_FILES.caKey]) };
    const serving = await issueServingCertificate(ca, o.names, notBefore, new Date(now + o.lifetimeMs));
    const cas = [...(newCa ? [new X509Certificate(ca.cert)] : []), ...old];
    const bundle = joinBundle(cas);
    const issued = new Set(cas.map((c) => c.fingerprint256));
    // Trusted before it is served: the new CA enters caBundle before the Secret names it.
    if (newCa) await this.syncCaBundle(bundle, issued, 'gain');
    const data = {
      [CERT_FILES.caCert]: Buffer.from(bundle).toString('base64'),
      [CERT_FILES.caKey]: Buffer.from(ca.key).toString('base64'),
      [CERT_FILES.cert]: Buffer.from(serving.cert).toString('base64'),
      [CERT_FILES.key]: Buffer.from(serving.key).toString('base64'),
    };
    const body = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: {
        name: o.secretName,
        namespace: o.namespace,
        labels: { 'app.kubernetes.io/name': 'leaseguard', 'app.kubernetes.io/component': 'serving-certificate' },
        annotations: { [ISSUED_CAS_ANNOTATION]: [...issued].join(',') },
        ...(secret?.metadata?.resourceVersion ? { resourceVersion: secret.metadata.resourceVersion } : {}),
      },
      data,
    };
    try {
      const written = secret
        ? await o.kube.json('PUT', this.#secretPath(), body)
        : await o.kube.json('POST', `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/secrets`, body);
      o.metrics.certificateRenewals.inc({ what: newCa ? 'ca' : 'serving', reason });
      o.logger.info(
        {
          secret: `${o.namespace}/${o.secretName}`,
          reason,
          newCa,
          notAfter: new Date(now + o.lifetimeMs).toISOString(),
          cas: bundle.match(PEM_BLOCK)?.length,
        },
        'issued a serving certificate',
      );
      return written as SecretObject;
    } catch (err) {
      const e = toStoreError(err, `writing Secret ${o.namespace}/${o.secretName}`);
      // Another replica wrote first: serve what it wrote.
      if (hasCode(e, ErrorCodes.STORE_CONFLICT) || hasCode(e, ErrorCodes.STORE_ALREADY_EXISTS)) return this.#read();
      throw e;
    }
  }

  /**
   * Makes every webhook's caBundle exactly the bundle's unexpired CAs that leaseguard issued
   * (`issued`; undefined: a Secret from before the record, taken as it is). Anything else
   * leaves: a CA planted in the Secret is never published, one added to caBundle by hand
   * is removed. With 'gain', those CAs are added and nothing is removed.
   */
  async syncCaBundle(
    bundlePem: string,
    issued: ReadonlySet<string> | undefined,
    mode: 'exact' | 'gain' = 'exact',
  ): Promise<void> {
    const now = this.#now();
    const all = splitBundle(bundlePem);
    const foreign = all.filter((c) => issued && !issued.has(c.fingerprint256));
    if (foreign.length > 0) {
      this.#o.logger.warn(
        {
          secret: `${this.#o.namespace}/${this.#o.secretName}`,
          notIssued: foreign.map((c) => ({ subject: c.subject, fingerprint: c.fingerprint256 })),
        },
        'the certificate Secret holds CAs leaseguard did not issue: they are not trusted (caBundle leaves them out)',
      );
    }
    const wanted = all.filter((c) => !foreign.includes(c) && Date.parse(c.validTo) > now);
    if (wanted.length === 0) return;
    const nextFor = (current: string | undefined): string => {
      if (mode === 'exact') return Buffer.from(joinBundle(wanted)).toString('base64');
      const have = splitBundle(decode(current));
      const added = wanted.filter((c) => !have.some((h) => h.fingerprint256 === c.fingerprint256));
      return added.length === 0 ? (current ?? '') : Buffer.from(joinBundle([...have, ...added])).toString('base64');
    };
    for (const kind of ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations']) {
      const path = `/apis/admissionregistration.k8s.io/v1/${kind}/${encodeURIComponent(this.#o.webhookName)}`;
      let current: {
        metadata: { resourceVersion: string };
        webhooks?: Array<{ clientConfig?: { caBundle?: string } }>;
      };
      try {
        current = (await this.#o.kube.json('GET', path, undefined)) as typeof current;
      } catch (err) {
        const e = toStoreError(err, `reading ${kind}/${this.#o.webhookName}`);
        if (hasCode(e, ErrorCodes.STORE_NOT_FOUND)) continue; // not registered (e.g. no stamping)
        throw e;
      }
      const ops: unknown[] = [
        { op: 'test', path: '/metadata/resourceVersion', value: current.metadata.resourceVersion },
      ];
      (current.webhooks ?? []).forEach((w, i) => {
        const next = nextFor(w.clientConfig?.caBundle);
        if (w.clientConfig?.caBundle !== next)
          ops.push({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: next });
      });
      if (ops.length === 1) continue;
      try {
        await this.#o.kube.json('PATCH', path, ops);
        this.#o.logger.info({ webhookConfiguration: `${kind}/${this.#o.webhookName}` }, 'caBundle updated');
      } catch (err) {
        // Changed meanwhile (the test op failed): the next round sees the new version.
        throw toStoreError(err, `patching caBundle of ${kind}/${this.#o.webhookName}`);
      }
    }
  }

  /** The pair (and bundle) as a mounted Secret looks: files through a `..data` symlink swapped at once. */
  async #writeFiles(data: Record<string, string>): Promise<boolean> {
    const stamp = this.#stamp(data);
    if (!data[CERT_FILES.cert] || stamp === this.#written) return false;
    const dir = this.#o.certDir;
    await mkdir(dir, { recursive: true });
    const version = `..${this.#now()}.${process.pid}`;
    await mkdir(join(dir, version), { mode: 0o700 });
    const previous = await readlink(join(dir, '..data')).catch(() => undefined);
    try {
      for (const f of [CERT_FILES.cert, CERT_FILES.key, CERT_FILES.caCert]) {
        await writeFile(join(dir, version, f), decode(data[f]), { mode: f === CERT_FILES.key ? 0o600 : 0o644 });
      }
      // A `..data_tmp` left by a write that died between its two steps would fail every
      // later one (EEXIST): it was never swapped in, so nothing serves from it.
      await rm(join(dir, '..data_tmp'), { recursive: true, force: true });
      await symlink(version, join(dir, '..data_tmp'));
      await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    } catch (err) {
      await rm(join(dir, version), { recursive: true, force: true });
      throw err;
    }
    for (const f of [CERT_FILES.cert, CERT_FILES.key, CERT_FILES.caCert]) {
      await symlink(join('..data', f), join(dir, f)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
    }
    // The version replaced, and any a failed write left behind (none but the served one is in use).
    for (const entry of await readdir(dir)) {
      if (entry !== version && (entry === previous || VERSION_DIR.test(entry)))
        await rm(join(dir, entry), { recursive: true, force: true });
    }
    this.#written = stamp;
    return true;
  }

  /** Reads (and as leader renews) every intervalMs; `changed` runs after certDir changed. */
  start(isLeader: () => boolean, changed: () => void): void {
    const tick = async () => {
      try {
        if (await this.reconcile(isLeader())) changed();
      } catch (err) {
        this.#o.logger.warn({ err: (err as Error).message }, 'certificate check failed; retrying');
      }
    };
    const loop = () => {
      this.#running = tick().finally(() => {
        if (this.#timer !== undefined) this.#timer = setTimeout(loop, this.intervalMs);
      });
    };
    this.#timer = setTimeout(loop, this.intervalMs);
  }

  async stop(): Promise<void> {
    const t = this.#timer;
    this.#timer = undefined;
    if (t) clearTimeout(t);
    await this.#running;
  }
}
