// Plain HTTP for Prometheus scrapes, apart from the TLS admission port.
import http from 'node:http';
import type { Registry } from 'prom-client';

export function createMetricsServer(registry: Registry): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"error":{"code":"LG_NOT_FOUND","message":"metrics are at GET /metrics"}}');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res
        .writeHead(405, { allow: 'GET', 'content-type': 'application/json' })
        .end('{"error":{"code":"LG_BAD_REQUEST","message":"use GET"}}');
      return;
    }
    registry.metrics().then(
      (text) =>
        res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (err: Error) =>
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics collection failed: ${err.message}`),
    );
  });
}
