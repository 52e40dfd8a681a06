// leaseguard's annotations on a guarded object (the mutating webhook's stamp), and who may
// set them. A stamp naming another installation's Lease hides the object from this one's
// duplicate monitor, so a stamp is trusted only from installations the configuration
// names, only as that installation would write it, and users may not write or change one.
import { readPath } from './rules.js';

/** Every annotation under this prefix is leaseguard's. */
export const STAMP_PREFIX = 'leaseguard.kubernaut.ai/';
export const LOCK_KEY_ANNOTATION = `${STAMP_PREFIX}lock-key`;
export const LEASE_ANNOTATION = `${STAMP_PREFIX}lease`;

/** leaseguard's annotations on an object, by name (values as found, strings or not). */
export function stampsOf(object: unknown): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const annotations = readPath(object, 'metadata.annotations');
  // (An array's or a string's entries have index names, never the prefix.)
  if (annotations === null || typeof annotations !== 'object') return out;
  for (const [k, v] of Object.entries(annotations)) if (k.startsWith(STAMP_PREFIX)) out.set(k, v);
  return out;
}

/** What the stamp for one lock says: its scoped key, and the Lease's name (namespaces vary by installation). */
export interface ExpectedStamp {
  lockKey: string;
  leaseName: string;
}

/**
 * The namespace a Lease stamp names when it is `<namespace>/<leaseName>` for this lock;
 * '' (no namespace, so no installation's) for anything else.
 */
export function stampNamespace(stamp: unknown, leaseName: string): string {
  if (typeof stamp !== 'string' || !stamp.endsWith(`/${leaseName}`)) return '';
  const namespace = stamp.slice(0, stamp.length - leaseName.length - 1);
  return namespace.includes('/') ? '' : namespace;
}

/**
 * A CREATE may carry only the stamp an installation (this one, or one of `installations`,
 * their Lease namespaces) writes for this lock: any other leaseguard annotation, or any
 * other value, is a problem (returned as the annotation's name).
 */
export function createStampProblem(
  stamps: ReadonlyMap<string, unknown>,
  expected: ExpectedStamp,
  installations: readonly string[],
): string | undefined {
  for (const [name, value] of stamps) {
    if (name === LOCK_KEY_ANNOTATION && value === expected.lockKey) continue;
    // Installations are namespaces, never '' (config.ts checks foreignLeaseNamespaces).
    if (name === LEASE_ANNOTATION && installations.includes(stampNamespace(value, expected.leaseName))) continue;
    return name;
  }
  return undefined;
}

/** An UPDATE may not add, change or remove any of leaseguard's annotations; the first that differs, else undefined. */
export function updateStampProblem(
  before: ReadonlyMap<string, unknown>,
  after: ReadonlyMap<string, unknown>,
): string | undefined {
  for (const [name, value] of after) if (before.get(name) !== value) return name;
  for (const name of before.keys()) if (!after.has(name)) return name;
  return undefined;
}

/**
 * Whether an object counts for another installation, not this one: its Lease stamp names
 * one of `foreign` (configured other installations' Lease namespaces) for the object's
 * own lock. Anything else (no stamp, this installation's, an unknown or malformed one)
 * counts here.
 */
export function isForeign(stamp: unknown, leaseName: string, foreign: readonly string[]): boolean {
  return foreign.includes(stampNamespace(stamp, leaseName));
}
