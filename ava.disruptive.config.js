// The disruptive phase of `npm test`: tests that restart the shared control plane or run
// a soak. They run after the main suite, one file at a time.
import base from './ava.config.js';

export default {
  ...base,
  files: ['test/disruptive/**/*.test.ts'],
  concurrency: 1,
  timeout: '10m',
};
