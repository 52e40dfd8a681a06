// The running process: HTTPS admission server with reloadable certificates, the metrics
// server, and a graceful stop that drains in-flight admissions.
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type Koa from 'koa';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { Readiness } from '../readiness.js';
import { CertReloader, loadKeyPair, type KeyPair } from '../tls/cert-reloader.js';
import { CallerConnections } from './caller-connections.js';
import { createMetricsServer } from './metrics-server.js';

/** TLS 1.2+ with forward-secret AEAD suites only. */
export const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export interface ServeOptions {
  host: string;
  admissionPort: number;
  metricsPort: number;
  certDir: string;
  /** When set, TLS asks every client for a certificate this CA signed (the admission app decides who may call). */
  clientCaFile?: string;
  logger: Logger;
  /** How long a stop waits for in-flight admissions. */
  drainMs?: number;
  /**
   * How long a stop keeps serving with /readyz failing before it closes the listener, so
   * that endpoints drop the replica first (default 0).
   */
  shutdownDelayMs?: number;
  /** A request must arrive whole within this (slow clients are cut off with 408). */
  requestTimeoutMs?: number;
  /** Its headers must arrive within this. */
  headersTimeoutMs?: number;
}

/** What the server serves and reports on (app.ts's Leaseguard is one). */
export interface Servable {
  app: Koa;
  metrics: Metrics;
  readiness: Readiness;
}

export interface RunningServer {
  admissionPort: number;
  metricsPort: number;
  https: https.Server;
  reloader: CertReloader;
  /** `immediate`: skip the shutdown delay (an interactive Ctrl-C). */
  stop(options?: { immediate?: boolean }): Promise<void>;
}

function listen(server: http.Server | https.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function startServer(lg: Servable, o: ServeOptions): Promise<RunningServer> {
  const pair = await loadKeyPair(o.certDir, o.clientCaFile);
  const context = (p: KeyPair) => ({
    cert: p.cert,
    key: p.key,
    minVersion: 'TLSv1.2' as const,
    ciphers: TLS_CIPHERS,
    honorCipherOrder: true,
    ...(p.clientCa ? { ca: p.clientCa } : {}),
  });
  const handle = lg.app.callback();
  const server = https.createServer(
    {
      ...context(pair),
      // A client certificate is asked for, not required: kubelet probes present none.
      // /validate and /mutate refuse a caller without a verified one (caller-auth.ts).
      ...(pair.clientCa ? { requestCert: true, rejectUnauthorized: false } : {}),
      // Slow or stuck clients cannot hold a connection open forever.
      requestTimeout: o.requestTimeoutMs ?? 15_000,
      headersTimeout: o.headersTimeoutMs ?? 10_000,
      // Node checks those timeouts on this interval (30 s by default).
      connectionsCheckingInterval: 1000,
      keepAliveTimeout: 65_000,
      maxHeaderSize: 16 * 1024,
    },
    // Koa's handler settles its own errors (ctx.onerror); its promise is not awaited.
    (req, res) => void handle(req, res),
  );
  server.on('tlsClientError', (err) => o.logger.debug({ err: err.message }, 'TLS handshake failed'));
  // Before http reads a byte of the connection: no renegotiation, and the caller's
  // certificate read once and pinned to it.
  const connections = new CallerConnections({
    logger: o.logger,
    metrics: lg.metrics,
    authenticate: pair.clientCa !== undefined,
  });
  server.prependListener('secureConnection', (socket: TLSSocket) => connections.accept(socket));
  server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) =>
    connections.request(req, res),
  );
  let clientCa = pair.clientCa;
  const reloader = new CertReloader(
    {
      dir: o.certDir,
      logger: o.logger,
      ...(o.clientCaFile ? { clientCaFile: o.clientCaFile } : {}),
      apply: (p) => {
        server.setSecureContext(context(p));
        lg.metrics.certificateExpiry.set(p.notAfter.getTime() / 1000);
        // New connections are verified by the new CA; those the old one admitted may not outlive it.
        if (p.clientCa && clientCa && !p.clientCa.equals(clientCa)) connections.caChanged(p.clientCa);
        clientCa = p.clientCa;
      },
    },
    pair,
  );
  lg.metrics.certificateExpiry.set(pair.notAfter.getTime() / 1000);
  const metricsServer = createMetricsServer(lg.metrics.registry);
  const admissionPort = await listen(server, o.admissionPort, o.host);
  let metricsPort: number;
  try {
    metricsPort = await listen(metricsServer, o.metricsPort, o.host);
  } catch (err) {
    server.close();
    throw err;
  }
  reloader.start();
  lg.readiness.set('serving', true);
  o.logger.info(
    { host: o.host, admissionPort, metricsPort, certDir: o.certDir, certNotAfter: pair.notAfter.toISOString() },
    'leaseguard is serving',
  );

  let stopping: Promise<void> | undefined;
  return {
    admissionPort,
    metricsPort,
    https: server,
    reloader,
    stop(options = {}) {
      stopping ??= (async () => {
        lg.readiness.set('serving', false, 'shutting down');
        const delayMs = options.immediate ? 0 : (o.shutdownDelayMs ?? 0);
        if (delayMs > 0) {
          // Still answering while endpoints drop this replica; each answer now closes its
          // connection, so the API server's next call opens one to a replica that stays.
          // Idle connections are left open until then: one closed from this side can cross
          // a request already on its way, which the API server reports as a failed call.
          o.logger.info({ delayMs }, 'stopping: /readyz fails; still serving until endpoints drop this replica');
          server.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) =>
            res.setHeader('Connection', 'close'),
          );
          await new Promise((r) => setTimeout(r, delayMs));
        }
        reloader.stop();
        const drained = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const timer = setTimeout(() => server.closeAllConnections(), o.drainMs ?? 10_000);
        await drained;
        clearTimeout(timer);
        await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
        o.logger.info('leaseguard stopped');
      })();
      return stopping;
    },
  };
}
