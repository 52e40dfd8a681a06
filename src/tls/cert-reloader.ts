// Keeps the HTTPS server's certificate current: watches the certificate directory (a
// mounted Secret swaps its `..data` symlink, which shows up as events on the directory)
// and polls as a backstop, then swaps the context with setSecureContext. A broken pair
// is logged and ignored; the server keeps the last good one.
import { X509Certificate, createPrivateKey, createHash, type KeyObject } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ErrorCodes, LeaseguardError } from '../errors.js';
import { CERT_FILES } from './certificates.js';

export interface KeyPair {
  cert: Buffer;
  key: Buffer;
  /** The CA bundle that signs admission callers' client certificates, when one is configured. */
  clientCa?: Buffer;
  /** sha256 of cert and key, to notice real changes only. */
  fingerprint: string;
  notAfter: Date;
}

export async function loadKeyPair(dir: string, clientCaFile?: string): Promise<KeyPair> {
  let cert: Buffer;
  let key: Buffer;
  try {
    [cert, key] = await Promise.all([readFile(join(dir, CERT_FILES.cert)), readFile(join(dir, CERT_FILES.key))]);
  } catch (err) {
    throw new LeaseguardError(
      ErrorCodes.TLS_INVALID,
      `cannot read ${CERT_FILES.cert} and ${CERT_FILES.key} in ${dir}: ${(err as Error).message}. ` +
        'Generate them with `leaseguard certs --dir ' +
        dir +
        '` or mount the serving Secret there',
      { cause: err },
    );
  }
  let x509: X509Certificate;
  let privateKey: KeyObject;
  try {
    x509 = new X509Certificate(cert);
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new LeaseguardError(
      ErrorCodes.TLS_INVALID,
      `${dir} holds an unreadable certificate or key: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new LeaseguardError(ErrorCodes.TLS_INVALID, `${CERT_FILES.key} in ${dir} does not match ${CERT_FILES.cert}`);
  }
  let clientCa: Buffer | undefined;
  if (clientCaFile !== undefined) {
    try {
      clientCa = await readFile(clientCaFile);
      new X509Certificate(clientCa);
    } catch (err) {
      throw new LeaseguardError(
        ErrorCodes.TLS_INVALID,
        `cannot read the client CA ${clientCaFile} (clientCaFile): ${(err as Error).message}. It holds the CA that signed the API server's client certificate: ` +
          'run leaseguard certs and leaseguard apiserver-config (kube-apiserver --admission-control-config-file), then put certs/ca.crt into the Secret or ConfigMap ' +
          'this Pod mounts it from, e.g. kubectl -n NAMESPACE create secret generic leaseguard-client-ca --from-file=ca.crt=certs/ca.crt (docs/install.md)',
        { cause: err },
      );
    }
  }
  const hash = createHash('sha256').update(cert).update(key);
  if (clientCa) hash.update(clientCa);
  return {
    cert,
    key,
    ...(clientCa ? { clientCa } : {}),
    fingerprint: hash.digest('hex'),
    notAfter: new Date(x509.validTo),
  };
}

export interface CertReloaderOptions {
  dir: string;
  /** Reloaded with the pair (the poll covers a file outside `dir`). */
  clientCaFile?: string;
  logger: Logger;
  apply: (pair: KeyPair) => void;
  /** Backstop poll interval; watches can miss events on some filesystems. */
  pollMs?: number;
  debounceMs?: number;
}

export class CertReloader {
  readonly #o: Required<CertReloaderOptions>;
  #current: string;
  #watcher: FSWatcher | undefined;
  #poll: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #reloading = Promise.resolve();

  constructor(options: CertReloaderOptions, initial: KeyPair) {
    this.#o = { pollMs: 30_000, debounceMs: 100, clientCaFile: undefined, ...options } as Required<CertReloaderOptions>;
    this.#current = initial.fingerprint;
  }

  get fingerprint(): string {
    return this.#current;
  }

  start(): void {
    try {
      this.#watcher = watch(this.#o.dir, { persistent: false }, () => this.#schedule());
      this.#watcher.on('error', (err) =>
        this.#o.logger.warn({ err, dir: this.#o.dir }, 'certificate directory watch failed; polling only'),
      );
    } catch (err) {
      this.#o.logger.warn({ err, dir: this.#o.dir }, 'cannot watch the certificate directory; polling only');
    }
    this.#poll = setInterval(() => this.#schedule(), this.#o.pollMs);
    this.#poll.unref();
  }

  stop(): void {
    this.#watcher?.close();
    if (this.#poll) clearInterval(this.#poll);
    if (this.#debounce) clearTimeout(this.#debounce);
  }

  /** Reloads now; resolves once done. */
  reload(): Promise<void> {
    this.#reloading = this.#reloading.then(() => this.#reload());
    return this.#reloading;
  }

  #schedule(): void {
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => void this.reload(), this.#o.debounceMs);
    this.#debounce.unref();
  }

  async #reload(): Promise<void> {
    let pair: KeyPair;
    try {
      pair = await loadKeyPair(this.#o.dir, this.#o.clientCaFile);
    } catch (err) {
      // Mid-swap states (cert written, key not yet) land here; the next event retries.
      this.#o.logger.warn(
        { err: (err as Error).message, dir: this.#o.dir },
        'certificate reload skipped; keeping the current certificate',
      );
      return;
    }
    if (pair.fingerprint === this.#current) return;
    try {
      this.#o.apply(pair);
    } catch (err) {
      this.#o.logger.error({ err, dir: this.#o.dir }, 'new certificate rejected by TLS; keeping the current one');
      return;
    }
    this.#current = pair.fingerprint;
    this.#o.logger.info({ dir: this.#o.dir, notAfter: pair.notAfter.toISOString() }, 'serving certificate reloaded');
  }
}
