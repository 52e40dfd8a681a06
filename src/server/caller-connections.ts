// The admission port's connections, as caller authentication needs them. A caller is who
// its certificate said at the handshake, so:
// - renegotiation is refused on every connection (Node's tls.Server has no option for it,
//   and after a TLS 1.2 renegotiation `socket.authorized` still describes the first
//   certificate while the peer certificate is the new one): the socket is closed;
// - when the client CA changes, a kept-alive connection whose verified chain does not end
//   in a CA of the new bundle is closed (idle at once, busy after its answer), so no
//   connection outlives the trust that admitted it.
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { pinPeerFacts, revokePeer } from './caller-auth.js';

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** sha256 fingerprints of every readable certificate in a PEM bundle. */
export function bundleFingerprints(pem: Buffer | string): Set<string> {
  const out = new Set<string>();
  for (const block of pem.toString().match(PEM_BLOCK) ?? []) {
    try {
      out.add(new X509Certificate(block).fingerprint256);
    } catch {
      // an unreadable block trusts nothing
    }
  }
  return out;
}

const RENEGOTIATION_ERRORS = new Set(['ERR_TLS_RENEGOTIATION_DISABLED', 'ERR_TLS_SESSION_ATTACK']);

export interface CallerConnectionsOptions {
  logger: Logger;
  metrics: Pick<Metrics, 'callersRefused'>;
  /** Whether callers are authenticated (a client CA is configured): then identities are pinned and tracked. */
  authenticate: boolean;
}

export class CallerConnections {
  readonly #o: CallerConnectionsOptions;
  /** Open connections, with the response in progress on each (undefined while idle). */
  readonly #open = new Map<TLSSocket, ServerResponse | undefined>();

  constructor(options: CallerConnectionsOptions) {
    this.#o = options;
  }

  get size(): number {
    return this.#open.size;
  }

  /** A connection whose handshake completed ('secureConnection', before any request is read). */
  accept(socket: TLSSocket): void {
    socket.disableRenegotiation();
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!RENEGOTIATION_ERRORS.has(err.code ?? '')) return;
      this.#o.metrics.callersRefused.inc({ reason: 'renegotiation' });
      this.#o.logger.warn(
        { remote: socket.remoteAddress, err: err.code },
        'admission caller refused: TLS renegotiation is not allowed; connection closed',
      );
      socket.destroy();
    });
    if (!this.#o.authenticate) return;
    pinPeerFacts(socket);
    this.#open.set(socket, undefined);
    socket.once('close', () => this.#open.delete(socket));
  }

  /** A request on a tracked connection: it is busy until its response is done. */
  request(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket as TLSSocket;
    if (!this.#open.has(socket)) return;
    this.#open.set(socket, res);
    res.once('close', () => {
      if (this.#open.get(socket) === res) this.#open.set(socket, undefined);
    });
  }

  /**
   * The client CA is now `bundle`: connections verified by a CA it no longer holds are
   * refused from now on and closed. Returns how many.
   */
  caChanged(bundle: Buffer): number {
    const trusted = bundleFingerprints(bundle);
    let closed = 0;
    for (const [socket, res] of this.#open) {
      const facts = pinPeerFacts(socket);
      if (!facts.presented || facts.issuers.some((f) => trusted.has(f))) continue;
      closed++;
      revokePeer(socket, 'the connection was authenticated by a client CA that has since been replaced; reconnect');
      if (!res) {
        socket.destroy();
      } else if (!res.headersSent) {
        res.setHeader('Connection', 'close');
      } else {
        res.once('finish', () => socket.end());
      }
    }
    if (closed > 0)
      this.#o.logger.info({ connections: closed }, 'client CA changed: closed connections it no longer trusts');
    return closed;
  }
}
