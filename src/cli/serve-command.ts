import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { EmbeddedExpiry } from '../release/embedded-expiry.js';
import { LeaseBudget } from '../lock/lease-budget.js';
import { Registry } from 'prom-client';
import { createLeaseguard, reportNamespaces } from '../app.js';
import { ConfigWatcher } from '../config-watcher.js';
import { callerAuthenticationProblem, embeddedConfig, loadConfig, type Config } from '../config.js';
import { configError } from '../errors.js';
import { KubeEventRecorder, noEvents } from '../kube/event-recorder.js';
import { createMetrics } from '../metrics.js';
import { startServer } from '../server/serve.js';
import { openStore } from '../store/open-store.js';
import { startReleaseWork } from '../release/release-work.js';
import { certificatesExist, generateCertificates, servingNames, writeCertificates } from '../tls/certificates.js';
import { CertificateManager } from '../tls/certificate-manager.js';
import { leaseListProbe } from '../server/api-reachability.js';
import { OwnNamespaceCheck } from '../kube/own-namespace-check.js';

const HELP = `usage: leaseguard serve [options]

Runs the admission webhook. Settings come from the config file, then LEASEGUARD_*
environment variables, then these flags.

  --config FILE        configuration file (YAML or JSON; default: $LEASEGUARD_CONFIG)
  --store KIND         auto (default), kubernetes or memory
  --port N             HTTPS admission port (default: 8443)
  --metrics-port N     HTTP metrics port (default: 9090)
  --cert-dir DIR       directory with tls.crt and tls.key (default: certs)
`;

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      store: { type: 'string' },
      port: { type: 'string' },
      'metrics-port': { type: 'string' },
      'cert-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const overrides: Partial<Record<keyof Config, unknown>> = {};
  if (values.store) overrides.store = values.store;
  if (values.port) overrides.admissionPort = values.port;
  if (values['metrics-port']) overrides.metricsPort = values['metrics-port'];
  if (values['cert-dir']) overrides.certDir = values['cert-dir'];
  const configFile = values.config ?? (process.env.LEASEGUARD_CONFIG || undefined);
  const load = () => loadConfig({ ...(configFile ? { file: configFile } : {}), overrides: overrides as Partial<Config> });
  const loaded = load();

  // Buffered, asynchronous log writes: one syscall per 4 KiB instead of one per admission.
  // Flushed every second and on a graceful stop; a SIGKILL may lose the last second.
  const logDest = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  const flusher = setInterval(() => logDest.flush(), 1000);
  flusher.unref();
  const logger = pino({ level: loaded.logLevel, base: { identity: loaded.identity }, timestamp: pino.stdTimeFunctions.isoTime }, logDest);
  const registry = new Registry();
  const metrics = createMetrics(registry);
  const opened = await openStore(loaded, logger, metrics.observeApi);
  const config = opened.embedded ? embeddedConfig(loaded) : loaded;
  // store auto is decided only now: a real API server's locks need authenticated callers.
  const unauthenticated = callerAuthenticationProblem(config, !!opened.embedded);
  if (unauthenticated) {
    opened.close();
    throw configError(`invalid configuration: ${unauthenticated}`);
  }

  const embedded = opened.store.backend === 'memory';
  if ((config.generateCerts || embedded) && !(await certificatesExist(config.certDir))) {
    await writeCertificates(
      config.certDir,
      await generateCertificates({ serviceName: config.serviceName, namespace: config.serviceNamespace }),
    );
    logger.warn({ certDir: config.certDir }, 'generated development certificates (CA in ca.crt); use real ones in production');
  }

  // Self-managed certificates: a pair to serve before the server starts (issued if none can be).
  const certificates =
    config.certificateSecret && opened.clients
      ? new CertificateManager({
          kube: opened.clients,
          namespace: config.leaseNamespace,
          secretName: config.certificateSecret,
          names: servingNames({ serviceName: config.serviceName, namespace: config.serviceNamespace }),
          lifetimeMs: config.certificateLifetimeSeconds * 1000,
          webhookName: config.webhookConfigurationName,
          certDir: config.certDir,
          metrics,
          logger,
        })
      : undefined;
  if (certificates) {
    // Nothing can be served without it; until the API server answers, keep trying.
    for (let attempt = 1; ; attempt++) {
      try {
        await certificates.reconcile(false);
        break;
      } catch (err) {
        logger.warn({ err: (err as Error).message, attempt }, 'cannot read or issue the self-managed certificate yet; retrying in 2 s');
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
    logger.info({ secret: `${config.leaseNamespace}/${config.certificateSecret}`, certDir: config.certDir }, 'serving the self-managed certificate');
  }

  const events =
    opened.clients && config.recordEvents
      ? new KubeEventRecorder({ core: opened.clients.core, namespace: opened.store.namespace, instance: config.identity, logger })
      : noEvents;
  // Readiness follows whether this replica reaches the API server (docs/guarantees.md).
  const apiProbe = opened.clients && {
    probe: leaseListProbe(opened.clients, opened.store.namespace, metrics.observeApi),
    intervalMs: config.apiServerProbeSeconds * 1000,
    failureThreshold: config.apiServerProbeFailures,
  };
  // The embedded store bounds itself (embeddedMaxLocks); the API server's Leases need maxLeases.
  const count = opened.clients ? opened.store.count?.bind(opened.store) : undefined;
  const budget = count ? new LeaseBudget({ max: config.maxLeases, count, logger }) : undefined;
  budget?.start();
  const lg = createLeaseguard({
    config, logger, registry, metrics, store: opened.store, holders: opened.holders, events,
    ...(apiProbe ? { apiProbe } : {}),
    ...(budget ? { budget } : {}),
  });
  logger.info(
    {
      rules: config.rules.map((r) => `${r.resource}.${r.group} key=${r.keyPath}${r.scope === 'namespace' ? ' (per namespace)' : ''}`),
      timeoutSeconds: config.timeoutSeconds,
      deadlineMs: config.deadlineMs,
      pendingTimeoutSeconds: config.pendingTimeoutSeconds,
      leaseFormat: config.leaseFormat,
      ...(opened.embedded ? {} : { apiServerRequestTimeoutSeconds: config.apiServerRequestTimeoutSeconds }),
      failOpen: config.failOpen,
      ...(budget ? { maxLeases: config.maxLeases } : {}),
    },
    'configuration loaded',
  );
  if (config.clientCaFile) {
    logger.info({ clientCaFile: config.clientCaFile, clientSubjects: config.clientSubjects }, 'admission callers must present a client certificate from the client CA');
  } else {
    logger.warn(
      { allowUnauthenticatedCallers: config.allowUnauthenticatedCallers },
      'admission callers are NOT authenticated: anyone who can reach the admission port can take and probe locks' +
        (opened.embedded
          ? ' (embedded store: locks are local to this process)'
          : " (allowUnauthenticatedCallers). Keep the NetworkPolicy's admission sources to the API server's addresses, or give the API server a client certificate and set clientCaFile (docs/security.md)"),
    );
  }
  if (config.failOpen) logger.warn('failOpen is on: creates are ADMITTED when the lock cannot be verified, so duplicates are possible during outages');

  const running = await startServer(lg, {
    host: config.host,
    admissionPort: config.admissionPort,
    metricsPort: config.metricsPort,
    certDir: config.certDir,
    ...(config.clientCaFile ? { clientCaFile: config.clientCaFile } : {}),
    shutdownDelayMs: config.shutdownDelaySeconds * 1000,
    logger,
  });

  // Closing idle connections while cut off: a call on one would be refused here anyway.
  lg.reachability?.start(() => running.https.closeIdleConnections());
  const ownNamespace =
    opened.clients &&
    new OwnNamespaceCheck({
      clients: opened.clients,
      namespace: config.serviceNamespace,
      rules: config.rules,
      metrics,
      logger,
      observe: metrics.observeApi,
      intervalMs: config.sweepIntervalSeconds * 1000,
    });
  ownNamespace?.start();

  // Release work (watches, sweeps) needs an API server; with the embedded store locks
  // expire after the pending timeout and their Leases are dropped.
  const expiry = opened.embedded && new EmbeddedExpiry({ store: opened.embedded, ages: lg.locks.ages, pendingTimeoutSeconds: config.pendingTimeoutSeconds, metrics, logger });
  expiry?.start();
  const release = opened.clients
    ? startReleaseWork({
        kubeConfig: opened.clients.kubeConfig,
        store: opened.store,
        holders: opened.holders,
        rules: lg.rules,
        identity: config.identity,
        pendingTimeoutSeconds: config.pendingTimeoutSeconds,
        ages: lg.locks.ages,
        events,
        foreignLeaseNamespaces: config.foreignLeaseNamespaces,
        sweepIntervalSeconds: config.sweepIntervalSeconds,
        watchTimeoutSeconds: config.watchTimeoutSeconds,
        leaseDurationSeconds: config.leaderLeaseDurationSeconds,
        renewDeadlineSeconds: config.leaderRenewDeadlineSeconds,
        retryPeriodSeconds: config.leaderRetryPeriodSeconds,
        metrics,
        logger,
        readiness: lg.readiness,
      })
    : undefined;

  certificates?.start(() => release?.elector.isLeader ?? false, () => void running.reloader.reload());

  // A changed configuration file: a rule's mode, hold limit or namespaces, and the log
  // level apply live; anything else is refused and this configuration keeps serving.
  const reloads: ConfigWatcher | undefined =
    configFile === undefined ? undefined :
    new ConfigWatcher({
      file: configFile,
      load: () => (opened.embedded ? embeddedConfig(load()) : load()),
      current: config,
      apply: (next) => {
        lg.rules.replace(next.rules);
        logger.level = next.logLevel;
        reportNamespaces(next.rules, metrics, logger);
      },
      logger,
      metrics,
    });
  await reloads?.start();

  await new Promise<void>((resolve) => {
    // SIGTERM (a Pod's deletion) waits out the shutdown delay; SIGINT (Ctrl-C) does not.
    const stop = (signal: string) => {
      logger.info({ signal }, 'stopping: draining in-flight admissions');
      running.stop({ immediate: signal === 'SIGINT' }).then(resolve, resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  reloads?.stop();
  expiry?.stop();
  lg.reachability?.stop();
  ownNamespace?.stop();
  budget?.stop();
  await certificates?.stop();
  await release?.stop();
  // Counts still unwritten get a moment to reach their Events.
  if (events instanceof KubeEventRecorder) {
    await events.settled(2000);
    events.close();
  }
  opened.close();
  clearInterval(flusher);
  logDest.flushSync();
  return 0;
}
