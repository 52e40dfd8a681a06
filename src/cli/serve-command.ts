import { pino } from 'pino';
import { Registry } from 'prom-client';
import { embeddedConfig, loadConfig, type Config } from '../config.js';
import { createMetrics } from '../metrics.js';
import { buildServing } from '../serving.js';
import { reportStartup } from '../startup-report.js';
import { openStore } from '../store/open-store.js';
import { defineCommand } from './command.js';

const HELP = `usage: leaseguard serve [options]

Runs the admission webhook. Settings come from the config file, then LEASEGUARD_*
environment variables, then these flags.

  --config FILE        configuration file (YAML or JSON; default: $LEASEGUARD_CONFIG)
  --store KIND         auto (default), kubernetes or memory
  --port N             HTTPS admission port (default: 8443)
  --metrics-port N     HTTP metrics port (default: 9090)
  --cert-dir DIR       directory with tls.crt and tls.key (default: certs)
`;

/** Resolves with the signal that asked the process to stop. */
function stopSignal(): Promise<'SIGTERM' | 'SIGINT'> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}

export const serveCommand = defineCommand({
  help: HELP,
  options: {
    config: { type: 'string' },
    store: { type: 'string' },
    port: { type: 'string' },
    'metrics-port': { type: 'string' },
    'cert-dir': { type: 'string' },
  },
  async run({ values }) {
    const overrides: Partial<Record<keyof Config, unknown>> = {};
    if (values.store) overrides.store = values.store;
    if (values.port) overrides.admissionPort = values.port;
    if (values['metrics-port']) overrides.metricsPort = values['metrics-port'];
    if (values['cert-dir']) overrides.certDir = values['cert-dir'];
    const configFile = values.config ?? (process.env.LEASEGUARD_CONFIG || undefined);
    const load = () =>
      loadConfig({ ...(configFile ? { file: configFile } : {}), overrides: overrides as Partial<Config> });
    const loaded = load();

    // Buffered, asynchronous log writes: one syscall per 4 KiB instead of one per admission.
    // Flushed every second and on a graceful stop; a SIGKILL may lose the last second.
    const logDest = pino.destination({ dest: 1, sync: false, minLength: 4096 });
    const flusher = setInterval(() => logDest.flush(), 1000);
    flusher.unref();
    const logger = pino(
      { level: loaded.logLevel, base: { identity: loaded.identity }, timestamp: pino.stdTimeFunctions.isoTime },
      logDest,
    );
    const registry = new Registry();
    const metrics = createMetrics(registry);
    const opened = await openStore(loaded, logger, metrics.observeApi);
    const config = opened.embedded ? embeddedConfig(loaded) : loaded;
    let serving;
    try {
      serving = await buildServing({
        config,
        logger,
        registry,
        metrics,
        opened,
        ...(configFile !== undefined
          ? { reload: { file: configFile, load: () => (opened.embedded ? embeddedConfig(load()) : load()) } }
          : {}),
      });
    } catch (err) {
      opened.close();
      throw err;
    }
    reportStartup(config, logger, { embedded: !!opened.embedded, maxLeases: !!opened.clients && !!opened.store.count });
    await serving.runner.start();

    // SIGTERM (a Pod's deletion) waits out the shutdown delay; SIGINT (Ctrl-C) does not.
    const signal = await stopSignal();
    logger.info({ signal }, 'stopping: draining in-flight admissions');
    await serving.runner.stop({ immediate: signal === 'SIGINT' });
    clearInterval(flusher);
    logDest.flushSync();
    return 0;
  },
});
