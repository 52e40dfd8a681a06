// The command Stryker runs for each mutant (stryker.config.mjs). A mutant is tested by
// the unit tests of the module it mutates (src/core/<name>.ts by test/unit/<name>.test.ts
// and those scripts/mutation-scope.mjs adds), not by the whole set: a score that counts only a module's
// own tests is the stricter one, and one ava start per mutant instead of nine keeps a full
// run to minutes. With no mutant active (Stryker's first run) every core test runs.
import { existsSync, readFileSync } from 'node:fs';
import { allMutationTests, coreModules, testsFor } from './mutation-scope.mjs';

const active = process.env.__STRYKER_ACTIVE_MUTANT__;
let files = [];
if (active) {
  const mark = `stryMutAct_9fa48("${active}")`;
  const name = coreModules().find((m) => readFileSync(`src/core/${m}.ts`, 'utf8').includes(mark));
  if (!name) {
    console.error(`mutation-tests: mutant ${active} is in no src/core file`);
    process.exit(2);
  }
  files = testsFor(name);
} else {
  // Stryker's first run, with no mutant: every module has tests that exist, or the run stops here.
  const untested = coreModules().filter((m) => testsFor(m).length === 0);
  const missing = allMutationTests().filter((f) => !existsSync(f));
  if (untested.length || missing.length) {
    console.error(
      `mutation-tests: ${untested.length ? `no unit tests for src/core/${untested.join(', ')} (add test/unit/<name>.test.ts or list some in scripts/mutation-scope.mjs)` : ''}${missing.length ? ` missing test files: ${missing.join(', ')}` : ''}`,
    );
    process.exit(1);
  }
}
// ava in this process (one Node start per mutant, not two); it sets the exit code.
process.argv = [process.argv[0], 'ava', '--config', 'ava.mutation.config.js', ...files];
await import('../node_modules/ava/entrypoints/cli.mjs');
