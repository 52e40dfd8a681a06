// The pure core's own unit tests, for mutation testing (`npm run test:mutation`): each
// mutant runs these, so they stay fast (no servers, no control plane) and stop at the
// first failure.
import base from './ava.config.js';

export default {
  ...base,
  files: [
    'test/unit/decide.test.ts',
    'test/unit/release-decision.test.ts',
    'test/unit/lock-record.test.ts',
    'test/unit/micro-time.test.ts',
    'test/unit/lease-name.test.ts',
    'test/unit/rules.test.ts',
    'test/unit/json-patch.test.ts',
    'test/unit/recent-map.test.ts',
    'test/unit/printable.test.ts',
    'test/unit/stamps.test.ts',
    'test/unit/json-depth.test.ts',
    'test/unit/hostile-input.test.ts',
  ],
  failFast: true,
  workerThreads: true,
  concurrency: 4,
};
