// The command Stryker runs for each mutant (stryker.config.mjs). A mutant is tested by
// the unit tests of the module it mutates (src/core/<name>.ts by test/unit/<name>.test.ts,
// plus the extra tests below), not by the whole set: a score that counts only a module's
// own tests is the stricter one, and one ava start per mutant instead of nine keeps a full
// run to minutes. With no mutant active (Stryker's first run) every core test runs.
import { readdirSync, readFileSync } from 'node:fs';

const EXTRA = {
  rules: ['test/unit/hostile-input.test.ts', 'test/unit/key-normalization.test.ts', 'test/unit/config-change.test.ts'],
  'lease-name': ['test/unit/hostile-input.test.ts'],
};

const active = process.env.__STRYKER_ACTIVE_MUTANT__;
let files = [];
if (active) {
  const mark = `stryMutAct_9fa48("${active}")`;
  const name = readdirSync('src/core')
    .filter((f) => f.endsWith('.ts'))
    .find((f) => readFileSync(`src/core/${f}`, 'utf8').includes(mark))
    ?.replace(/\.ts$/, '');
  if (!name) {
    console.error(`mutation-tests: mutant ${active} is in no src/core file`);
    process.exit(2);
  }
  files = [`test/unit/${name}.test.ts`, ...(EXTRA[name] ?? [])];
}
// ava in this process (one Node start per mutant, not two); it sets the exit code.
process.argv = [process.argv[0], 'ava', '--config', 'ava.mutation.config.js', ...files];
await import('../node_modules/ava/entrypoints/cli.mjs');
