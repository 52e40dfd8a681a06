// An in-process leaseguard on real HTTPS, with its own registry and logger.
import { pino, type Logger } from 'pino';
import { Registry } from 'prom-client';
import { createLeaseguard, type Leaseguard } from '../../src/app.js';
import { LeaseBudget } from '../../src/lock/lease-budget.js';
import { DEFAULT_RULES, type GuardRule } from '../../src/core/rules.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { unverifiableHolders, type HolderReader } from '../../src/store/holder-reader.js';
import type { LeaseStore } from '../../src/store/lease-store.js';
import { MemoryLeaseStore } from '../../src/store/memory-lease-store.js';
import { cliCerts, type TestCerts } from '../harness/certs.js';
import { HttpsClient } from '../harness/https-client.js';

export interface TestServer {
  lg: Leaseguard;
  /** The maxLeases bound, when asked for. */
  budget?: LeaseBudget;
  server: RunningServer;
  client: HttpsClient;
  store: LeaseStore;
  certs: TestCerts;
  url: string;
  logs: string[];
  close(): Promise<void>;
}

export interface TestServerOptions {
  store?: LeaseStore;
  holders?: HolderReader;
  certs?: TestCerts;
  deadlineMs?: number;
  pendingTimeoutSeconds?: number;
  failOpen?: boolean;
  rules?: GuardRule[];
  clock?: () => Date;
  requestTimeoutMs?: number;
  headersTimeoutMs?: number;
  /** Require callers to present a client certificate from this CA (and, if set, one of these subjects). */
  clientCaFile?: string;
  clientSubjects?: string[];
  /** Readiness follows this API-reachability probe (started with the server). */
  apiProbe?: { probe: (signal: AbortSignal) => Promise<unknown>; intervalMs: number; failureThreshold: number };
  clientSubjectsMatchSans?: boolean;
  maxReviewBytes?: number;
  foreignLeaseNamespaces?: string[];
  /** Keep a maxLeases bound, counted from the store. */
  maxLeases?: number;
}

/** A pino logger whose lines are kept for assertions. */
export function capturingLogger(lines: string[]): Logger {
  return pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
}

let sharedCerts: Promise<TestCerts> | undefined;

export async function startTestServer(o: TestServerOptions = {}): Promise<TestServer> {
  const certs = o.certs ?? (await (sharedCerts ??= cliCerts()));
  const store = o.store ?? new MemoryLeaseStore('leaseguard-system');
  const logs: string[] = [];
  const logger = capturingLogger(logs);
  const budget = o.maxLeases
    ? new LeaseBudget({
        max: o.maxLeases,
        count: (signal) => store.count?.(signal) ?? Promise.resolve(undefined),
        logger,
      })
    : undefined;
  budget?.start();
  await budget?.refresh();
  const lg = createLeaseguard({
    config: {
      rules: o.rules ?? [...DEFAULT_RULES],
      pendingTimeoutSeconds: o.pendingTimeoutSeconds ?? 30,
      deadlineMs: o.deadlineMs ?? 4000,
      failOpen: o.failOpen ?? false,
      ...(o.maxReviewBytes ? { maxReviewBytes: o.maxReviewBytes } : {}),
      ...(o.foreignLeaseNamespaces ? { foreignLeaseNamespaces: o.foreignLeaseNamespaces } : {}),
      ...(o.clientCaFile
        ? {
            clientCaFile: o.clientCaFile,
            clientSubjects: o.clientSubjects ?? [],
            clientSubjectsMatchSans: o.clientSubjectsMatchSans ?? false,
          }
        : {}),
    },
    logger,
    registry: new Registry(),
    store,
    holders: o.holders ?? unverifiableHolders,
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.apiProbe ? { apiProbe: o.apiProbe } : {}),
    ...(budget ? { budget } : {}),
  });
  const server = await startServer(lg, {
    host: '127.0.0.1',
    admissionPort: 0,
    metricsPort: 0,
    certDir: certs.dir,
    ...(o.clientCaFile ? { clientCaFile: o.clientCaFile } : {}),
    logger,
    drainMs: 2000,
    ...(o.requestTimeoutMs ? { requestTimeoutMs: o.requestTimeoutMs } : {}),
    ...(o.headersTimeoutMs ? { headersTimeoutMs: o.headersTimeoutMs } : {}),
  });
  lg.reachability?.start(() => server.https.closeIdleConnections());
  const url = `https://127.0.0.1:${server.admissionPort}`;
  const client = new HttpsClient(url, certs.ca, 256);
  let closing: Promise<void> | undefined;
  return {
    lg,
    ...(budget ? { budget } : {}),
    server,
    client,
    store,
    certs,
    url,
    logs,
    // Once: a test may close its server early and still register the close as a teardown.
    close() {
      closing ??= (async () => {
        budget?.stop();
        client.close();
        lg.reachability?.stop();
        await server.stop();
      })();
      return closing;
    },
  };
}
