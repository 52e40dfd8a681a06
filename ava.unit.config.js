// The fast tier (`npm run test:unit`, and the first phase of `npm test`): the unit tests and
// the in-process server tests. They need no control plane, so they run on their own.
import base from './ava.config.js';

export default {
  ...base,
  files: ['test/unit/**/*.test.ts', 'test/server/**/*.test.ts'],
};
