// How a rule compares its keys. Pure: deriveKey applies it where a key is read, so the
// Lease name, the recorded key, the release watch, `why` and the duplicate monitor agree.

/**
 * `none` (or absent): keys are exact strings. `object-ref`: a key naming an object as
 * `namespace/Kind/name` or `Kind/name` compares the way Kubernetes resolves it: the Kind
 * case-insensitively, namespace and name exactly.
 */
export const KEY_NORMALIZATIONS = ['none', 'object-ref'] as const;
export type KeyNormalization = (typeof KEY_NORMALIZATIONS)[number];

/**
 * ASCII only: Kinds are ASCII identifiers, and Unicode case folding would join spellings
 * Kubernetes keeps apart (the Kelvin sign K folds to k) and could lengthen a key past its
 * byte limit (İ folds to two code points).
 */
function asciiLower(text: string): string {
  return text.replace(/[A-Z]+/g, (run) => run.toLowerCase());
}

/**
 * The Kind segment lower-cased, the rest untouched. A `Kind.group` segment is lower-cased
 * whole and stays distinct from the bare Kind: dropping the group would join kinds of
 * different groups that share a name. A key of another shape (one segment, four or more)
 * is not an object reference and stays exact.
 */
function objectRef(key: string): string {
  const parts = key.split('/');
  if (parts.length === 3) return `${parts[0]}/${asciiLower(parts[1]!)}/${parts[2]}`;
  if (parts.length === 2) return `${asciiLower(parts[0]!)}/${parts[1]}`;
  return key;
}

/** The key as its rule compares it: the lock's identity (before any namespace scope). */
export function normalizeKey(normalization: KeyNormalization | undefined, key: string): string {
  return normalization === 'object-ref' ? objectRef(key) : key;
}
