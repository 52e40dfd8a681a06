// The pure core's unit tests, for mutation testing (`npm run test:mutation`), as
// scripts/mutation-scope.mjs lists them: each mutant runs its module's share, so they stay
// fast (no servers, no control plane) and stop at the first failure.
import base from './ava.config.js';
import { allMutationTests } from './scripts/mutation-scope.mjs';

export default {
  ...base,
  files: allMutationTests(),
  failFast: true,
  workerThreads: true,
  concurrency: 4,
};
