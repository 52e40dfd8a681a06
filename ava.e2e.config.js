// The end-to-end tier (`npm run test:e2e`): the chart and the image on a real node. Its
// tests share one cluster and change it (install, upgrade, uninstall), one file at a time.
import base from './ava.config.js';

export default {
  ...base,
  files: ['test/e2e/**/*.test.ts'],
  concurrency: 1,
  timeout: '10m',
};
