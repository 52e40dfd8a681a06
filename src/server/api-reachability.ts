// Whether this replica can reach the API server now, as a critical readiness condition:
// a replica that cannot verify any lock should leave the Service's endpoints, so that the
// API server's calls go to replicas that can. Two signals feed it: a cheap periodic probe
// (a blip of fewer than `failureThreshold` failed probes does not flap readiness), and
// every admission refused because the API server could not be reached (it fails the
// condition at once; the next successful probe restores it).
import type { Logger } from 'pino';
import type { Gauge } from 'prom-client';
import { isUnreachable } from '../errors.js';
import { callApi, type ApiObserve } from '../kube/api-errors.js';
import type { KubeClients } from '../kube/kube-client.js';
import type { Readiness } from '../readiness.js';

/** The /readyz condition this module owns. */
export const API_CHECK = 'apiserver';

export interface ApiReachabilityOptions {
  /** One cheap request to the API server; rejects with a coded error (callApi) on failure. */
  probe: (signal: AbortSignal) => Promise<unknown>;
  readiness: Readiness;
  /** 1 while reachable, 0 while not. */
  gauge: Gauge<string>;
  logger: Logger;
  /** A probe starts this often, and one that takes longer has failed. */
  intervalMs: number;
  /** Consecutive failed probes that fail readiness. */
  failureThreshold: number;
  now?: () => number;
}

/**
 * The probe leaseguard uses: the first Lease of its namespace, a list it may make (its
 * Role), through the same keep-alive agent as admissions, so it meets what they meet.
 */
export function leaseListProbe(
  clients: KubeClients,
  namespace: string,
  observe: ApiObserve,
): (signal: AbortSignal) => Promise<unknown> {
  const path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases?limit=1`;
  return (signal) =>
    callApi(observe, 'probe', 'leases', `list Leases in ${namespace}`, () =>
      clients.json('GET', path, undefined, signal),
    );
}

export class ApiReachability {
  readonly #o: ApiReachabilityOptions;
  readonly #now: () => number;
  #failures = 0;
  #reachable = false;
  /** When an admission last failed for lack of the API server: only a probe begun later clears it. */
  #failedAt = -Infinity;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  #running = false;
  #whileUnreachable: (() => void) | undefined;

  constructor(options: ApiReachabilityOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => performance.now());
    // Not ready before the first probe has reached the API server.
    this.#set(false, 'not probed yet');
  }

  get reachable(): boolean {
    return this.#reachable;
  }

  /**
   * Probes until stopped. `whileUnreachable` runs after each failed probe while readiness
   * fails: the server closes its idle connections then, since a call on one of them would
   * be refused here anyway, and the caller's next connection goes to a ready replica.
   */
  start(whileUnreachable?: () => void): void {
    if (this.#running) return;
    this.#running = true;
    this.#whileUnreachable = whileUnreachable;
    void this.#loop();
  }

  stop(): void {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#wake?.();
  }

  /** An admission's store call failed: if the API server was unreachable, fail now. */
  admissionFailed(err: unknown): void {
    if (!isUnreachable(err)) return;
    this.#failedAt = this.#now();
    this.#failures = Math.max(this.#failures, this.#o.failureThreshold);
    if (this.#reachable) {
      this.#o.logger.warn(
        { err: err.message },
        'an admission could not reach the API server: /readyz fails until a probe reaches it',
      );
      this.#set(false, `an admission could not reach the API server: ${err.message}`);
    }
  }

  /** One probe and what it means for readiness; resolves to whether it reached the API server. */
  async probeOnce(): Promise<boolean> {
    const started = this.#now();
    let error: unknown;
    try {
      await this.#o.probe(AbortSignal.timeout(this.#o.intervalMs));
    } catch (err) {
      error = err;
    }
    // A refusal (403, 404) is an answer: this replica reaches the API server, and every
    // other replica would be refused the same, so leaving the endpoints would help no one.
    if (!isUnreachable(error)) {
      if (started < this.#failedAt) return true; // began before a later admission failed: says nothing of now
      this.#failures = 0;
      if (!this.#reachable) this.#o.logger.info('the API server is reachable: /readyz passes');
      this.#set(true);
      return true;
    }
    this.#failures++;
    if (this.#failures >= this.#o.failureThreshold) {
      if (this.#reachable)
        this.#o.logger.warn(
          { err: error.message, failures: this.#failures },
          'cannot reach the API server: /readyz fails until it can',
        );
      this.#set(false, `cannot reach the API server (${this.#failures} probes failed): ${error.message}`);
    }
    return false;
  }

  async #loop(): Promise<void> {
    while (this.#running) {
      const started = this.#now();
      const ok = await this.probeOnce();
      if (!ok && !this.#reachable) this.#whileUnreachable?.();
      if (!this.#running) return;
      const wait = Math.max(0, this.#o.intervalMs - (this.#now() - started));
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#timer = setTimeout(resolve, wait);
        this.#timer.unref();
      });
    }
  }

  #set(ok: boolean, message?: string): void {
    this.#reachable = ok;
    this.#o.gauge.set(ok ? 1 : 0);
    this.#o.readiness.set(API_CHECK, ok, message);
  }
}
