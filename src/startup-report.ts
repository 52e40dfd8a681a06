// What a starting replica says about its configuration: the rules and bounds it enforces,
// and warnings for the settings that weaken its guarantees.
import type { Logger } from 'pino';
import type { Config } from './config.js';

export function reportStartup(config: Config, logger: Logger, o: { embedded: boolean; maxLeases: boolean }): void {
  logger.info(
    {
      rules: config.rules.map(
        (r) => `${r.resource}.${r.group} key=${r.keyPath}${r.scope === 'namespace' ? ' (per namespace)' : ''}`,
      ),
      timeoutSeconds: config.timeoutSeconds,
      deadlineMs: config.deadlineMs,
      pendingTimeoutSeconds: config.pendingTimeoutSeconds,
      leaseFormat: config.leaseFormat,
      ...(o.embedded ? {} : { apiServerRequestTimeoutSeconds: config.apiServerRequestTimeoutSeconds }),
      failOpen: config.failOpen,
      ...(o.maxLeases ? { maxLeases: config.maxLeases } : {}),
    },
    'configuration loaded',
  );
  if (config.clientCaFile) {
    logger.info(
      { clientCaFile: config.clientCaFile, clientSubjects: config.clientSubjects },
      'admission callers must present a client certificate from the client CA',
    );
  } else {
    logger.warn(
      { allowUnauthenticatedCallers: config.allowUnauthenticatedCallers },
      'admission callers are NOT authenticated: anyone who can reach the admission port can take and probe locks' +
        (o.embedded
          ? ' (embedded store: locks are local to this process)'
          : " (allowUnauthenticatedCallers). Keep the NetworkPolicy's admission sources to the API server's addresses, or give the API server a client certificate and set clientCaFile (docs/security.md)"),
    );
  }
  if (config.failOpen)
    logger.warn(
      'failOpen is on: creates are ADMITTED when the lock cannot be verified, so duplicates are possible during outages',
    );
}
