// A TCP proxy that injects faults between leaseguard and the API server: added latency
// (either direction), dropped connections, and black-holed traffic. TLS passes through
// untouched; the proxy only sees bytes.
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { controlPlane } from '../harness/integration-env.js';

export type Fault =
  | { kind: 'pass' }
  /** Delay every chunk by `ms` (in the given directions). */
  | { kind: 'latency'; ms: number; direction?: 'both' | 'responses' }
  /** Close every connection, old and new, at once. */
  | { kind: 'drop' }
  /** Accept and swallow: nothing is forwarded, nothing answered. */
  | { kind: 'blackhole' };

export class FaultProxy {
  fault: Fault = { kind: 'pass' };
  readonly #server: net.Server;
  readonly #pairs = new Set<[net.Socket, net.Socket]>();
  port = 0;
  connections = 0;

  private constructor(readonly targetPort: number) {
    this.#server = net.createServer((client) => this.#accept(client));
  }

  static async start(targetPort: number): Promise<FaultProxy> {
    const p = new FaultProxy(targetPort);
    await new Promise<void>((r) => p.#server.listen(0, '127.0.0.1', r));
    p.port = (p.#server.address() as net.AddressInfo).port;
    return p;
  }

  set(fault: Fault): void {
    this.fault = fault;
    if (fault.kind === 'drop')
      for (const [a, b] of this.#pairs) {
        a.destroy();
        b.destroy();
      }
  }

  #accept(client: net.Socket): void {
    this.connections++;
    if (this.fault.kind === 'drop') return void client.destroy();
    if (this.fault.kind === 'blackhole') {
      client.on('data', () => {});
      client.on('error', () => {});
      return;
    }
    client.setNoDelay(true);
    const upstream = net.connect({ port: this.targetPort, host: '127.0.0.1', noDelay: true });
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.#pairs.add(pair);
    const close = () => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    this.#forward(client, upstream, 'request');
    this.#forward(upstream, client, 'response');
  }

  #forward(from: net.Socket, to: net.Socket, direction: 'request' | 'response'): void {
    // Chunks keep their order: each waits for the one before it.
    let tail = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      const f = this.fault;
      if (f.kind === 'blackhole') return; // swallowed
      const delay = f.kind === 'latency' && (f.direction !== 'responses' || direction === 'response') ? f.ms : 0;
      // Each chunk is due `delay` after it arrived (not after the chunk before it went out).
      const due = performance.now() + delay;
      tail = tail.then(
        () =>
          new Promise<void>((resolve) => {
            const send = () => {
              if (!to.destroyed) to.write(chunk);
              resolve();
            };
            const wait = due - performance.now();
            if (wait > 0) setTimeout(send, wait);
            else send();
          }),
      );
    });
  }

  async close(): Promise<void> {
    for (const [a, b] of this.#pairs) {
      a.destroy();
      b.destroy();
    }
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

/**
 * A FaultProxy in front of the test control plane's API server, and leaseguard's
 * kubeconfig through it (written as `name` in the control plane's directory).
 */
export async function apiServerBehindProxy(name: string): Promise<{ proxy: FaultProxy; kubeconfig: string }> {
  const cp = controlPlane();
  const proxy = await FaultProxy.start(Number(new URL(cp.server).port));
  const kc = JSON.parse(await readFile(cp.kubeconfigs.leaseguard, 'utf8'));
  kc.clusters[0].cluster.server = `https://127.0.0.1:${proxy.port}`;
  const kubeconfig = join(cp.dir, name);
  await writeFile(kubeconfig, JSON.stringify(kc), { mode: 0o600 });
  return { proxy, kubeconfig };
}
