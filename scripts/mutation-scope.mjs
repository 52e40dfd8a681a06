// Which unit tests judge each mutant of src/core/<name>.ts: its own test file
// (test/unit/<name>.test.ts) when there is one, plus the ones below that reach it too.
// One list for both ends: ava.mutation.config.js runs exactly these files, and
// scripts/mutation-tests.mjs picks a mutant's share of them. A test passed to ava outside
// its configured files is not run, and "no tests found" fails the run, which would count a
// mutant as killed: so every module must have tests here, checked before any mutant runs.
import { existsSync, readdirSync } from 'node:fs';

const EXTRA = {
  holder: ['test/unit/decide.test.ts', 'test/unit/release-decision.test.ts'],
  'lock-format-v2': ['test/unit/lease-format.test.ts', 'test/unit/lock-record.test.ts'],
  'lock-record': ['test/unit/lease-format.test.ts'],
  rules: ['test/unit/hostile-input.test.ts', 'test/unit/key-normalization.test.ts', 'test/unit/config-change.test.ts'],
  'lease-name': ['test/unit/hostile-input.test.ts'],
};

export const coreModules = () =>
  readdirSync('src/core')
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.replace(/\.ts$/, ''));

/** The test files for one core module (empty when it has none: an error). */
export function testsFor(name) {
  const own = `test/unit/${name}.test.ts`;
  return [...(existsSync(own) ? [own] : []), ...(EXTRA[name] ?? [])];
}

/** Every file the mutation run uses, each once. */
export const allMutationTests = () => [...new Set(coreModules().flatMap(testsFor))].sort();
