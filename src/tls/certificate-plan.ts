// What a self-managed certificate Secret needs now: a pure function of what the Secret
// holds, the time and the configured lifetime.
//
// The serving certificate lives `lifetime` and is renewed when a third of it remains (as
// cert-manager's default renewBefore). The CA lives four lifetimes and is replaced when
// fewer than two remain, so every certificate it signed expires before it does. A
// replaced CA stays in the bundle (ca.crt) until it expires: a replica that still serves
// a certificate it signed, until the new one reaches it, stays trusted. A CA leaseguard
// did not issue (its record on the Secret does not name it) is never kept, and a signer
// it did not issue is replaced.

export interface CertFacts {
  fingerprint: string;
  notBeforeMs: number;
  notAfterMs: number;
}

export interface SecretFacts {
  /**
   * The CAs in ca.crt, newest (the signer) first; `issued` false for one leaseguard's
   * record on the Secret does not name (put there by someone else: never trusted).
   */
  cas: Array<CertFacts & { issued?: boolean }>;
  /** Whether ca.key is the first CA's key. */
  caKeyMatches: boolean;
  serving?: CertFacts & {
    /** Fingerprint of the CA in the bundle that signed it, if any. */
    issuer: string | undefined;
    /** Whether it names every name the Service needs. */
    namesMatch: boolean;
    /** Whether tls.key is its key. */
    keyMatches: boolean;
  };
}

export type RenewReason =
  | 'missing'
  | 'ca-not-issued'
  | 'ca-expiring'
  | 'ca-key-mismatch'
  | 'expiring'
  | 'issuer-changed'
  | 'names-changed'
  | 'key-mismatch'
  | 'not-yet-valid';

export interface CertificatePlan {
  /** Issue a new CA (and with it a serving certificate). */
  newCa: boolean;
  /** Issue a new serving certificate from the signer. */
  newServing: boolean;
  reason: RenewReason | undefined;
  /** CAs to keep in the bundle after the new one (if any): those leaseguard issued, not yet expired. */
  keep: string[];
  /** Whether the serving certificate as it is can be served now (valid, key matches). */
  servable: boolean;
}

export const CA_LIFETIMES = 4;

export function planCertificates(f: SecretFacts | undefined, nowMs: number, lifetimeMs: number): CertificatePlan {
  const cas = f?.cas ?? [];
  const keep = cas.filter((c) => c.notAfterMs > nowMs && c.issued !== false).map((c) => c.fingerprint);
  const signer = cas[0];
  const serving = f?.serving;
  const issuer = cas.find((c) => c.fingerprint === serving?.issuer);
  const servable =
    !!serving &&
    serving.keyMatches &&
    serving.notBeforeMs <= nowMs &&
    serving.notAfterMs > nowMs &&
    serving.issuer !== undefined &&
    issuer?.issued !== false;
  const caReason: RenewReason | undefined = !signer
    ? 'missing'
    : signer.issued === false
      ? 'ca-not-issued'
      : !f?.caKeyMatches
        ? 'ca-key-mismatch'
        : signer.notAfterMs - nowMs < 2 * lifetimeMs
          ? 'ca-expiring'
          : undefined;
  if (caReason) return { newCa: true, newServing: true, reason: caReason, keep, servable };
  const servingReason: RenewReason | undefined = !serving
    ? 'missing'
    : !serving.keyMatches
      ? 'key-mismatch'
      : serving.issuer !== signer!.fingerprint
        ? 'issuer-changed'
        : !serving.namesMatch
          ? 'names-changed'
          : serving.notBeforeMs > nowMs
            ? 'not-yet-valid'
            : serving.notAfterMs - nowMs < lifetimeMs / 3
              ? 'expiring'
              : undefined;
  return { newCa: false, newServing: servingReason !== undefined, reason: servingReason, keep, servable };
}
