// The floor for this stack: a koa webhook over the same HTTPS settings that allows
// everything without reading the store. Run as its own process; prints its port.
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Koa from 'koa';
import { TLS_CIPHERS } from '../src/server/serve.js';

const certDir = process.argv[2] ?? 'certs';
const app = new Koa();
app.use(async (ctx) => {
  const chunks: Buffer[] = [];
  for await (const c of ctx.req) chunks.push(c as Buffer);
  const uid = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request: { uid: string } }).request.uid;
  ctx.type = 'application/json';
  ctx.body = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } };
});
const handle = app.callback();
const server = https.createServer(
  {
    cert: readFileSync(join(certDir, 'tls.crt')),
    key: readFileSync(join(certDir, 'tls.key')),
    minVersion: 'TLSv1.2',
    ciphers: TLS_CIPHERS,
    keepAliveTimeout: 65_000,
  },
  // Koa's handler settles its own errors (ctx.onerror); its promise is not awaited.
  (req, res) => void handle(req, res),
);
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ msg: 'leaseguard is serving', admissionPort: port, metricsPort: 0 })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
