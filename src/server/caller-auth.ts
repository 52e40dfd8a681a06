// Who may take a lock: only the API server. With a client CA configured, TLS asks each
// caller for a certificate; this decides, per request and before any read or write,
// whether the admission endpoints answer it. Pure apart from reading the socket.
import type { TLSSocket } from 'node:tls';

export type CallerRefusal = 'no-certificate' | 'untrusted-certificate' | 'subject-not-allowed';

export type CallerCheck =
  | { ok: true; subject: string }
  | { ok: false; reason: CallerRefusal; subject?: string; detail: string };

/** What a TLS socket says about its peer, as this check needs it. */
export interface PeerFacts {
  /** Whether the peer presented a certificate at all. */
  presented: boolean;
  authorized: boolean;
  authorizationError?: string;
  /** Empty when the peer presented no certificate. */
  commonName?: string;
  dnsNames: string[];
}

export function peerFacts(socket: TLSSocket): PeerFacts {
  const cert = socket.getPeerCertificate?.();
  const present = cert && Object.keys(cert).length > 0;
  const cn = present ? cert.subject?.CN : undefined;
  const san = present && typeof cert.subjectaltname === 'string' ? cert.subjectaltname : '';
  const dnsNames = san
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
  const authorizationError = socket.authorizationError === null || socket.authorizationError === undefined ? undefined : String(socket.authorizationError);
  return {
    presented: Boolean(present),
    authorized: socket.authorized === true,
    ...(authorizationError !== undefined ? { authorizationError } : {}),
    ...(typeof cn === 'string' ? { commonName: cn } : Array.isArray(cn) ? { commonName: String(cn[0]) } : {}),
    dnsNames,
  };
}

/**
 * A caller is accepted when its certificate was verified against the client CA and, if
 * `subjects` is not empty, its CN or one of its DNS names is among them.
 */
export function checkCaller(peer: PeerFacts, subjects: readonly string[]): CallerCheck {
  const subject = peer.commonName ?? peer.dnsNames[0] ?? '';
  if (!peer.presented) {
    return { ok: false, reason: 'no-certificate', detail: 'a client certificate is required: only the API server may call the admission endpoints' };
  }
  if (!peer.authorized) {
    return {
      ok: false,
      reason: 'untrusted-certificate',
      subject,
      detail: `the client certificate is not signed by the configured client CA (${peer.authorizationError ?? 'unverified'})`,
    };
  }
  if (subjects.length > 0 && !subjects.includes(peer.commonName ?? '') && !peer.dnsNames.some((n) => subjects.includes(n))) {
    return { ok: false, reason: 'subject-not-allowed', subject, detail: 'the client certificate subject is not one of clientSubjects' };
  }
  return { ok: true, subject };
}
