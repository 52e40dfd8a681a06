// Which Node.js the image runs and the tests must run on: one version, in .node-version;
// the Dockerfile's base image names its major.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../harness/paths.js';

export function pinnedNodeVersion(): string {
  return readFileSync(join(ROOT, '.node-version'), 'utf8').trim();
}

/** The Node.js major of every stage of the Dockerfile (`node:<major>-…`, distroless `nodejs<major>-…`). */
/** The Dockerfile's stages: each FROM's image and stage name, and the node binaries it copies in from another stage. */
export function imageStages(): Array<{ from: string; name?: string; copiesNodeFrom?: string }> {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const stages: Array<{ from: string; name?: string; copiesNodeFrom?: string }> = [];
  for (const line of dockerfile.split('\n')) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) stages.push({ from: from[1]!, ...(from[2] ? { name: from[2] } : {}) });
    const copy = /^COPY\s+--from=(\S+)\s+\S*\/bin\/node\s/.exec(line);
    if (copy && stages.length > 0) stages[stages.length - 1]!.copiesNodeFrom = copy[1]!;
  }
  return stages;
}

/** Why this process may not run the suite, or undefined when its Node.js is the pinned one. */
export function runtimeMismatch(version = process.versions.node): string | undefined {
  const pinned = pinnedNodeVersion();
  if (version === pinned) return undefined;
  return `the tests run on Node.js ${pinned} (.node-version, the image's major), this is ${version}: run them with \`npm test\`, which fetches it (scripts/ensure-node.sh)`;
}
