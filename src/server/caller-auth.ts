// Who may take a lock: only the API server. With a client CA configured, TLS asks each
// caller for a certificate; this decides, per request and before any read or write,
// whether the admission endpoints answer it. What the certificate says is read once, at
// the handshake, and pinned to the connection (renegotiation is refused: serve.ts), so
// nothing later on the connection can change who the caller is.
import type { PeerCertificate, DetailedPeerCertificate, TLSSocket } from 'node:tls';

export type CallerRefusal = 'no-certificate' | 'untrusted-certificate' | 'subject-not-allowed';

export type CallerCheck =
  { ok: true; subject: string } | { ok: false; reason: CallerRefusal; subject?: string; detail: string };

/** What a TLS socket says about its peer, as this check needs it. */
export interface PeerFacts {
  /** Whether the peer presented a certificate at all. */
  presented: boolean;
  authorized: boolean;
  authorizationError?: string;
  /**
   * The user name Kubernetes' x509 authenticator reads from the certificate: the subject's
   * CommonName, which Go (crypto/x509/pkix.Name.FillFromRDNSequence) takes from the LAST
   * CN attribute when there are several. Absent without a CN.
   */
  commonName?: string;
  dnsNames: string[];
  /** sha256 fingerprints (as X509Certificate.fingerprint256) of the verified chain above the leaf, up to the trusted CA. */
  issuers: string[];
  /** Set when the connection outlived the client CA that verified it (caller-connections.ts). */
  revoked?: string;
}

export interface CallerPolicy {
  /** Allowed user names; empty: any certificate the client CA signed. */
  subjects: readonly string[];
  /** Also accept a DNS SAN among `subjects` (Kubernetes never reads SANs as the user). */
  matchSans?: boolean;
}

/** Kubernetes' user name from Node's subject: the last CN (Node gives several as an array, in order). */
export function lastCommonName(cn: string | string[] | undefined): string | undefined {
  if (typeof cn === 'string') return cn;
  if (Array.isArray(cn) && cn.length > 0) return String(cn[cn.length - 1]);
  return undefined;
}

function dnsNamesOf(cert: PeerCertificate): string[] {
  const san = typeof cert.subjectaltname === 'string' ? cert.subjectaltname : '';
  return san
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
}

/** The chain Node built for the peer (leaf first, ending at the CA that verified it), leaf excluded. */
function issuerFingerprints(cert: DetailedPeerCertificate): string[] {
  const out: string[] = [];
  let at = cert;
  for (let i = 0; i < 16 && at.issuerCertificate && at.issuerCertificate !== at; i++) {
    at = at.issuerCertificate;
    if (at.fingerprint256) out.push(at.fingerprint256);
  }
  return out;
}

/** Reads the peer's certificate as verified by this handshake. */
export function readPeerFacts(socket: TLSSocket): PeerFacts {
  const cert = socket.getPeerCertificate?.(true);
  const present = Boolean(cert && Object.keys(cert).length > 0);
  const authorizationError =
    socket.authorizationError === null || socket.authorizationError === undefined
      ? undefined
      : String(socket.authorizationError);
  const commonName = present ? lastCommonName(cert.subject?.CN) : undefined;
  return {
    presented: present,
    authorized: socket.authorized === true,
    ...(authorizationError !== undefined ? { authorizationError } : {}),
    ...(commonName !== undefined ? { commonName } : {}),
    dnsNames: present ? dnsNamesOf(cert) : [],
    issuers: present ? issuerFingerprints(cert) : [],
  };
}

const PINNED = Symbol('leaseguard.callerFacts');
type Pinnable = TLSSocket & { [PINNED]?: PeerFacts };

/** The facts pinned to this connection: pinned now if the server did not at its handshake (serve.ts does). */
export function pinPeerFacts(socket: TLSSocket): PeerFacts {
  const s = socket as Pinnable;
  s[PINNED] ??= readPeerFacts(socket);
  return s[PINNED];
}

/** Marks a connection's caller as no longer trusted: later requests on it are refused. */
export function revokePeer(socket: TLSSocket, why: string): void {
  pinPeerFacts(socket).revoked = why;
}

/**
 * A caller is accepted when its certificate was verified against the client CA, with no
 * verification error, and, if `subjects` is not empty, its user name as Kubernetes reads
 * it (the last CN) is among them, or, only when `matchSans`, one of its DNS names is.
 */
export function checkCaller(peer: PeerFacts, policy: CallerPolicy): CallerCheck {
  const { subjects } = policy;
  const subject = peer.commonName ?? peer.dnsNames[0] ?? '';
  if (!peer.presented) {
    return {
      ok: false,
      reason: 'no-certificate',
      detail: 'a client certificate is required: only the API server may call the admission endpoints',
    };
  }
  if (!peer.authorized || peer.authorizationError !== undefined) {
    return {
      ok: false,
      reason: 'untrusted-certificate',
      subject,
      detail: `the client certificate is not signed by the configured client CA (${peer.authorizationError ?? 'unverified'})`,
    };
  }
  if (peer.revoked !== undefined) {
    return { ok: false, reason: 'untrusted-certificate', subject, detail: peer.revoked };
  }
  const byName = peer.commonName !== undefined && subjects.includes(peer.commonName);
  const bySan = policy.matchSans === true && peer.dnsNames.some((n) => subjects.includes(n));
  if (subjects.length > 0 && !byName && !bySan) {
    return {
      ok: false,
      reason: 'subject-not-allowed',
      subject,
      detail: `the client certificate's user name (its last CN${policy.matchSans ? ', or a DNS name' : ''}) is not one of clientSubjects`,
    };
  }
  return { ok: true, subject };
}
