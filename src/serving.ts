// The composition root of a serving replica: everything `leaseguard serve` runs, built
// from the configuration and what the caller owns (logger, registry and metrics, the
// opened store and its API clients), as components of one Runner. Components start in
// the order listed and stop in reverse: on SIGTERM the admission server drains first,
// then the background work stops, leadership is given up, Events are flushed and the
// store is closed.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { createLeaseguard, reportNamespaces, type Leaseguard } from './app.js';
import { ConfigWatcher } from './config-watcher.js';
import { callerAuthenticationProblem, type Config } from './config.js';
import { configError } from './errors.js';
import { KubeEventRecorder, noEvents } from './kube/event-recorder.js';
import { OwnNamespaceCheck } from './kube/own-namespace-check.js';
import { LeaseBudget } from './lock/lease-budget.js';
import { EVENT_LOOP_BUCKETS, type Metrics } from './metrics.js';
import { EmbeddedExpiry } from './release/embedded-expiry.js';
import { ReleaseController } from './release/release-controller.js';
import { releaseElection, type ReleaseElection } from './release/release-work.js';
import { Runner, type Runnable } from './runner.js';
import { leaseListProbe } from './server/api-reachability.js';
import { eventLoopDelay } from './server/event-loop-delay.js';
import { startServer, type RunningServer } from './server/serve.js';
import type { OpenedStore } from './store/open-store.js';
import { CertificateManager } from './tls/certificate-manager.js';
import { certificatesExist, generateCertificates, servingNames, writeCertificates } from './tls/certificates.js';

export interface ServingDeps {
  /** The configuration, as the store it opened needs it (embeddedConfig for the embedded store). */
  config: Config;
  logger: Logger;
  registry: Registry;
  metrics: Metrics;
  opened: OpenedStore;
  /** Reloads the configuration file when it changes; absent without a file. */
  reload?: { file: string; load: () => Config };
}

export interface Serving {
  lg: Leaseguard;
  runner: Runner;
}

const every = (name: string, start: () => void | Promise<void>, stop: Runnable['stop']): Runnable => ({
  name,
  runs: 'every-replica',
  start,
  stop,
});

/** Development certificates where none exist, and the self-managed certificate: nothing can be served without them. */
async function prepareCertificates(d: ServingDeps): Promise<CertificateManager | undefined> {
  const { config, opened, logger } = d;
  if ((config.generateCerts || opened.store.backend === 'memory') && !(await certificatesExist(config.certDir))) {
    await writeCertificates(
      config.certDir,
      await generateCertificates({ serviceName: config.serviceName, namespace: config.serviceNamespace }),
    );
    logger.warn(
      { certDir: config.certDir },
      'generated development certificates (CA in ca.crt); use real ones in production',
    );
  }
  if (!config.certificateSecret || !opened.clients) return undefined;
  const certificates = new CertificateManager({
    kube: opened.clients,
    namespace: config.leaseNamespace,
    secretName: config.certificateSecret,
    names: servingNames({ serviceName: config.serviceName, namespace: config.serviceNamespace }),
    lifetimeMs: config.certificateLifetimeSeconds * 1000,
    webhookName: config.webhookConfigurationName,
    certDir: config.certDir,
    metrics: d.metrics,
    logger,
  });
  // A pair to serve before anything starts (issued if none can be); until the API server answers, keep trying.
  for (let attempt = 1; ; attempt++) {
    try {
      await certificates.reconcile(false);
      break;
    } catch (err) {
      logger.warn(
        { err: (err as Error).message, attempt },
        'cannot read or issue the self-managed certificate yet; retrying in 2 s',
      );
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  logger.info(
    { secret: `${config.leaseNamespace}/${config.certificateSecret}`, certDir: config.certDir },
    'serving the self-managed certificate',
  );
  return certificates;
}

export async function buildServing(d: ServingDeps): Promise<Serving> {
  const { config, logger, metrics, opened } = d;
  // store auto is decided only now: a real API server's locks need authenticated callers.
  const unauthenticated = callerAuthenticationProblem(config, !!opened.embedded);
  if (unauthenticated) throw configError(`invalid configuration: ${unauthenticated}`);
  const certificates = await prepareCertificates(d);
  const { store, clients } = opened;
  const events =
    clients && config.recordEvents
      ? new KubeEventRecorder({ core: clients.core, namespace: store.namespace, instance: config.identity, logger })
      : noEvents;
  // Readiness follows whether this replica reaches the API server (docs/guarantees.md).
  const apiProbe = clients && {
    probe: leaseListProbe(clients, store.namespace, metrics.observeApi),
    intervalMs: config.apiServerProbeSeconds * 1000,
    failureThreshold: config.apiServerProbeFailures,
  };
  // The embedded store bounds itself (embeddedMaxLocks); the API server's Leases need maxLeases.
  const count = clients ? store.count?.bind(store) : undefined;
  const budget = count ? new LeaseBudget({ max: config.maxLeases, count, logger }) : undefined;
  const lg = createLeaseguard({
    config,
    logger,
    registry: d.registry,
    metrics,
    store,
    holders: opened.holders,
    events,
    ...(apiProbe ? { apiProbe } : {}),
    ...(budget ? { budget } : {}),
  });

  let server: RunningServer | undefined;
  let election: ReleaseElection | undefined;
  const components: Runnable[] = [
    every(
      'store',
      () => {},
      () => opened.close(),
    ),
  ];
  const loopDelay = eventLoopDelay(metrics.eventLoopDelay, EVENT_LOOP_BUCKETS);
  components.push(
    every(
      'event-loop-delay',
      () => loopDelay.start(),
      () => loopDelay.stop(),
    ),
  );
  if (events instanceof KubeEventRecorder) {
    // Counts still unwritten get a moment to reach their Events.
    components.push(
      every(
        'events',
        () => {},
        async () => {
          await events.settled(2000);
          events.close();
        },
      ),
    );
  }
  // Release work (watches, sweeps) needs an API server, and runs on the leader only; with
  // the embedded store locks expire after the pending timeout and their Leases are dropped.
  if (clients) {
    election = releaseElection({
      store,
      identity: config.identity,
      metrics,
      logger,
      leaseDurationSeconds: config.leaderLeaseDurationSeconds,
      renewDeadlineSeconds: config.leaderRenewDeadlineSeconds,
      retryPeriodSeconds: config.leaderRetryPeriodSeconds,
    });
    const controller = new ReleaseController({
      kubeConfig: clients.kubeConfig,
      store,
      holders: opened.holders,
      rules: lg.rules,
      pendingTimeoutSeconds: config.pendingTimeoutSeconds,
      ages: lg.locks.ages,
      events,
      foreignLeaseNamespaces: config.foreignLeaseNamespaces,
      sweepIntervalSeconds: config.sweepIntervalSeconds,
      watchTimeoutSeconds: config.watchTimeoutSeconds,
      metrics,
      logger,
      readiness: lg.readiness,
    });
    components.push({
      name: 'release-controller',
      runs: 'while-leading',
      start: () => controller.start(),
      stop: () => controller.stop(),
    });
  }
  if (certificates) {
    const leading = election;
    components.push(
      every(
        'certificates',
        () =>
          certificates.start(
            () => leading?.isLeader ?? false,
            () => void server?.reloader.reload(),
          ),
        () => certificates.stop(),
      ),
    );
  }
  if (budget)
    components.push(
      every(
        'lease-budget',
        () => budget.start(),
        () => budget.stop(),
      ),
    );
  if (clients) {
    const ownNamespace = new OwnNamespaceCheck({
      clients,
      namespace: config.serviceNamespace,
      rules: config.rules,
      metrics,
      logger,
      observe: metrics.observeApi,
      intervalMs: config.sweepIntervalSeconds * 1000,
    });
    components.push(
      every(
        'own-namespace-check',
        () => ownNamespace.start(),
        () => ownNamespace.stop(),
      ),
    );
  }
  const reachability = lg.reachability;
  // Closing idle connections while cut off: a call on one would be refused here anyway.
  if (reachability)
    components.push(
      every(
        'api-reachability',
        () => reachability.start(() => server?.https.closeIdleConnections()),
        () => reachability.stop(),
      ),
    );
  if (opened.embedded) {
    const expiry = new EmbeddedExpiry({
      store: opened.embedded,
      ages: lg.locks.ages,
      pendingTimeoutSeconds: config.pendingTimeoutSeconds,
      metrics,
      logger,
    });
    components.push(
      every(
        'embedded-expiry',
        () => expiry.start(),
        () => expiry.stop(),
      ),
    );
  }
  // A changed configuration file: a rule's mode, hold limit or namespaces, and the log
  // level apply live; anything else is refused and this configuration keeps serving.
  if (d.reload) {
    const reloads = new ConfigWatcher({
      file: d.reload.file,
      load: d.reload.load,
      current: config,
      apply: (next) => {
        lg.rules.replace(next.rules);
        logger.level = next.logLevel;
        reportNamespaces(next.rules, metrics, logger);
      },
      logger,
      metrics,
    });
    components.push(
      every(
        'config-watcher',
        () => reloads.start(),
        () => reloads.stop(),
      ),
    );
  }
  // Last to start, first to stop: on a stop it drains in-flight admissions before anything else stops.
  components.push(
    every(
      'admission-server',
      async () => {
        server = await startServer(lg, {
          host: config.host,
          admissionPort: config.admissionPort,
          metricsPort: config.metricsPort,
          certDir: config.certDir,
          ...(config.clientCaFile ? { clientCaFile: config.clientCaFile } : {}),
          shutdownDelayMs: config.shutdownDelaySeconds * 1000,
          logger,
        });
      },
      (options) => server?.stop(options),
    ),
  );
  return { lg, runner: new Runner({ components, ...(election ? { election } : {}), logger }) };
}
