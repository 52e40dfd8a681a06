// A round-robin TCP forwarder on loopback, standing in for the Service in front of the
// webhook replicas. A backend that refuses the connection is skipped.
import net from 'node:net';

export interface Forwarder {
  port: number;
  backends: number[];
  /** Cuts every open connection, as an endpoint change behind a Service can: callers reconnect, round robin again. */
  dropConnections(): void;
  close(): Promise<void>;
}

export async function startForwarder(backends: number[]): Promise<Forwarder> {
  let next = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    // A userspace proxy must not add Nagle delays a kube-proxy Service would not.
    client.setNoDelay(true);
    client.on('close', () => sockets.delete(client));
    client.pause();
    const tryBackend = (attempt: number) => {
      if (attempt >= backends.length) {
        client.destroy();
        return;
      }
      const port = backends[next++ % backends.length] as number;
      const upstream = net.connect({ port, host: '127.0.0.1', noDelay: true });
      sockets.add(upstream);
      let connected = false;
      upstream.once('connect', () => {
        connected = true;
        client.pipe(upstream).pipe(client);
        client.resume();
      });
      upstream.once('error', () => {
        sockets.delete(upstream);
        if (!connected) tryBackend(attempt + 1);
        else client.destroy();
      });
      upstream.on('close', () => {
        sockets.delete(upstream);
        // end, not destroy: what the backend sent last (an answer with Connection: close)
        // is still on its way to the client.
        if (connected) client.end();
      });
      client.on('error', () => upstream.destroy());
      client.on('close', () => upstream.destroy());
    };
    tryBackend(0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    backends,
    dropConnections() {
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
