// The integration phase of `npm test`: every file here runs against the one control plane
// that test/support/run-tests.ts starts, after the unit and server tests.
import base from './ava.config.js';

export default {
  ...base,
  files: ['test/integration/**/*.test.ts'],
};
