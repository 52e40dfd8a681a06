// An informer that survives errors. client-node 1.4's ListWatch relists by itself only on
// 410 Gone; on any other error it reports and stops. This restarts it with exponential
// backoff and reports health for /readyz and metrics.
import { makeInformer, type Informer, type KubeConfig, type KubernetesObject, type ListPromise } from '@kubernetes/client-node';
import type { Logger } from 'pino';

export interface ResilientInformerOptions<T extends KubernetesObject> {
  name: string;
  kubeConfig: KubeConfig;
  path: string;
  list: ListPromise<T>;
  labelSelector?: string;
  logger: Logger;
  onHealth: (healthy: boolean, message?: string) => void;
  onRestart: () => void;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export class ResilientInformer<T extends KubernetesObject> {
  readonly informer: Informer<T> & { get(name: string, namespace?: string): T | undefined };
  readonly #o: ResilientInformerOptions<T>;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  #errored = false;

  constructor(options: ResilientInformerOptions<T>) {
    this.#o = options;
    this.informer = makeInformer(options.kubeConfig, options.path, options.list, options.labelSelector) as Informer<T> & {
      get(name: string, namespace?: string): T | undefined;
    };
    this.informer.on('error', (err: unknown) => this.#onError(err));
  }

  /** Starts watching; resolves once the first list succeeded (or after the first failure, which retries). */
  async start(): Promise<boolean> {
    this.#stopped = false;
    return this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.informer.stop();
  }

  async #run(): Promise<boolean> {
    this.#errored = false;
    await this.informer.start();
    if (this.#errored || this.#stopped) return false;
    if (this.#failures > 0) this.#o.logger.info({ watch: this.#o.name }, 'watch resumed');
    this.#failures = 0;
    this.#o.onHealth(true);
    return true;
  }

  #onError(err: unknown): void {
    this.#errored = true;
    if (this.#stopped) return;
    this.#failures++;
    const backoff = Math.min(this.#o.maxBackoffMs ?? 30_000, (this.#o.minBackoffMs ?? 500) * 2 ** (this.#failures - 1));
    const message = (err as Error)?.message ?? String(err);
    this.#o.logger.warn({ watch: this.#o.name, err: message, retryInMs: backoff }, 'watch failed; restarting');
    this.#o.onHealth(false, message);
    this.#o.onRestart();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (!this.#stopped) void this.#run();
    }, backoff);
    this.#timer.unref();
  }
}
