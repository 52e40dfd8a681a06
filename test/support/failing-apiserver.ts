// A stand-in API server that only fails, in one of three ways, so the Kubernetes store's
// real HTTP path (client-node, keep-alive agent, error mapping) meets each failure.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export type ApiFailure = '500' | '403' | 'hang';

export interface FailingApiServer {
  kubeConfig: KubeConfig;
  requests: number;
  close(): Promise<void>;
}

/** A kubeconfig for a stand-in API server listening on loopback over plain HTTP. */
export function standInKubeConfig(server: http.Server): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      { name: 'stand-in', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true },
    ],
    users: [{ name: 'u', token: 'test-token' }],
    contexts: [{ name: 'c', cluster: 'stand-in', user: 'u' }],
    currentContext: 'c',
  });
  return kc;
}

export async function startFailingApiServer(mode: ApiFailure): Promise<FailingApiServer> {
  const state = { requests: 0 };
  const hung = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    state.requests++;
    req.resume();
    const status = (code: number, reason: string, message: string) =>
      res
        .writeHead(code, { 'content-type': 'application/json' })
        .end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message }));
    if (mode === '500') return status(500, 'InternalError', 'Internal error occurred: etcdserver: request timed out');
    if (mode === '403') {
      return status(
        403,
        'Forbidden',
        'leases.coordination.k8s.io "x" is forbidden: User "system:serviceaccount:leaseguard-system:leaseguard" cannot get resource "leases" in API group "coordination.k8s.io" in the namespace "leaseguard-system"',
      );
    }
    hung.add(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const kc = standInKubeConfig(server);
  return {
    kubeConfig: kc,
    get requests() {
      return state.requests;
    },
    async close() {
      for (const r of hung) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
