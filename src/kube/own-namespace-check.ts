// leaseguard never guards its own namespace: the webhook configurations exclude it, so
// that an outage of leaseguard cannot block what would bring it back. Guarded objects
// created there are therefore unchecked, and nothing else would say so. This looks, at
// start and then at intervals, for any object of a guarded kind there (a list of one per
// kind), and says it loudly: a warning naming the kind and namespace, and a gauge.
import type { Logger } from 'pino';
import type { GuardRule } from '../core/rules.js';
import { ErrorCodes, hasCode } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { callApi, type ApiObserve } from './api-errors.js';
import type { KubeClients } from './kube-client.js';

export interface OwnNamespaceCheckOptions {
  clients: Pick<KubeClients, 'json'>;
  /** leaseguard's own namespace, the one the webhook configurations exclude. */
  namespace: string;
  rules: readonly GuardRule[];
  metrics: Pick<Metrics, 'guardedObjectsInOwnNamespace'>;
  logger: Logger;
  observe: ApiObserve;
  intervalMs: number;
  /** Per-list deadline. */
  timeoutMs?: number;
}

function listPath(rule: GuardRule, namespace: string): string {
  const api = rule.group === '' ? `/api/${rule.version}` : `/apis/${rule.group}/${rule.version}`;
  return `${api}/namespaces/${encodeURIComponent(namespace)}/${rule.resource}?limit=1`;
}

export class OwnNamespaceCheck {
  readonly #o: OwnNamespaceCheckOptions;
  /** Per kind: whether objects were found at the last check that answered. */
  readonly #found = new Map<string, boolean>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: OwnNamespaceCheckOptions) {
    this.#o = options;
  }

  /** Checks every guarded kind once; resolves to the kinds found in the namespace. */
  async check(): Promise<string[]> {
    const present = await Promise.all(this.#o.rules.map((rule) => this.#checkKind(rule)));
    return this.#o.rules.filter((_, i) => present[i]).map((r) => r.kind);
  }

  async #checkKind(rule: GuardRule): Promise<boolean> {
    const { namespace, logger } = this.#o;
    let example: string | undefined;
    try {
      const list = (await callApi(
        this.#o.observe,
        'list',
        rule.resource,
        `list ${rule.resource}.${rule.group} in ${namespace}`,
        () =>
          this.#o.clients.json(
            'GET',
            listPath(rule, namespace),
            undefined,
            AbortSignal.timeout(this.#o.timeoutMs ?? 10_000),
          ),
      )) as { items?: Array<{ metadata?: { name?: string } }> };
      example = list.items?.[0]?.metadata?.name;
    } catch (err) {
      // Not served (its CRD is not installed) or cluster-scoped: nothing can be created there.
      if (!hasCode(err, ErrorCodes.STORE_NOT_FOUND)) {
        logger.warn(
          { kind: rule.kind, namespace, err: (err as Error).message },
          "cannot check leaseguard's own namespace for guarded objects; will try again",
        );
        return this.#found.get(rule.kind) ?? false;
      }
    }
    const present = example !== undefined;
    const before = this.#found.get(rule.kind);
    this.#found.set(rule.kind, present);
    this.#o.metrics.guardedObjectsInOwnNamespace.set({ kind: rule.kind }, present ? 1 : 0);
    if (present && before !== true) {
      logger.warn(
        { kind: rule.kind, namespace, example: `${namespace}/${example}` },
        `GUARDED OBJECTS IN LEASEGUARD'S OWN NAMESPACE: ${rule.kind} objects exist in ${namespace}, where leaseguard guards nothing ` +
          '(the webhook configurations exclude its namespace, so an outage of leaseguard cannot block what would bring it back): creates there are never locked. ' +
          `Create ${rule.kind} objects in another namespace, or install leaseguard in one of its own`,
      );
    } else if (!present && before === true) {
      logger.info({ kind: rule.kind, namespace }, `no ${rule.kind} objects remain in leaseguard's own namespace`);
    }
    return present;
  }

  /** Checks now, then every intervalMs until stopped. */
  start(): void {
    const run = () =>
      void this.check().catch((err: Error) => this.#o.logger.warn({ err: err.message }, 'own-namespace check failed'));
    run();
    this.#timer = setInterval(run, this.#o.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }
}
