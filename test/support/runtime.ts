// Which Node.js the image runs and the tests must run on: one version, in .node-version;
// the Dockerfile's base image names its major.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './paths.js';

export function pinnedNodeVersion(): string {
  return readFileSync(join(ROOT, '.node-version'), 'utf8').trim();
}

/** The Node.js major of every stage of the Dockerfile (`node:<major>-…`, distroless `nodejs<major>-…`). */
export function imageNodeMajors(): string[] {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  return [...dockerfile.matchAll(/^FROM\s+\S*?\/?node(?::|js)(\d+)-\S*/gm)].map((m) => m[1]!);
}

/** Why this process may not run the suite, or undefined when its Node.js is the pinned one. */
export function runtimeMismatch(version = process.versions.node): string | undefined {
  const pinned = pinnedNodeVersion();
  if (version === pinned) return undefined;
  return `the tests run on Node.js ${pinned} (.node-version, the image's major), this is ${version}: run them with \`npm test\`, which fetches it (scripts/ensure-node.sh)`;
}
