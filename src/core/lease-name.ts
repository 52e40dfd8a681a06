import { createHash } from 'node:crypto';
import { RecentMap } from './recent-map.js';
import type { GuardRule } from './rules.js';

const MAX_NAME = 63;
const HASH_CHARS = 16; // 64 bits of sha256: collisions are also caught by the recorded key check
const MAX_KIND_CHARS = 20;

/** The identity of a lock: the guarded kind plus its scoped key. Two kinds never share a lock. */
export function lockIdentity(rule: Pick<GuardRule, 'group' | 'kind'>, scopedKey: string): string {
  return `${rule.group}/${rule.kind}\n${scopedKey}`;
}

function slug(text: string, max: number): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-') // so at most one dash leads or trails
    .replace(/^-/, '')
    .slice(0, max)
    .replace(/-$/, '');
}

/**
 * A DNS-1123 label (at most 63 characters) naming the Lease for a lock: the kind and a
 * readable part of the key, then a hash of the whole identity, so keys that share a
 * long prefix still get different Leases.
 */
export function leaseName(rule: Pick<GuardRule, 'group' | 'kind'>, scopedKey: string): string {
  // Stryker disable next-line StringLiteral: UTF-8 is also Hash.update's default for strings
  const hash = createHash('sha256').update(lockIdentity(rule, scopedKey), 'utf8').digest('hex').slice(0, HASH_CHARS);
  const kind = slug(rule.kind, MAX_KIND_CHARS) || 'lock';
  const room = MAX_NAME - kind.length - HASH_CHARS - 2;
  const readable = slug(scopedKey, room);
  // join() makes one flat string; a template would keep a tree of the parts (and the
  // whole hex digest the hash is sliced from) alive in every watch-cache entry.
  return (readable ? [kind, readable, hash] : [kind, hash]).join('-');
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function isDns1123Label(name: string): boolean {
  return name.length <= MAX_NAME && DNS1123_LABEL.test(name);
}

/** How many Lease names each generation of a LeaseNames memo keeps. */
const MEMO_GENERATION = 4096;

/**
 * leaseName with a bounded memo: a hot key (a retry storm, a busy key) is hashed once
 * instead of on every admission.
 */
export class LeaseNames {
  readonly #recent = new RecentMap<string, string>(MEMO_GENERATION);

  of(rule: Pick<GuardRule, 'group' | 'kind'>, scopedKey: string): string {
    return this.#recent.remember(lockIdentity(rule, scopedKey), () => leaseName(rule, scopedKey));
  }
}
