// Mutation testing of the pure core (`npm run test:mutation`). Stryker builds every
// mutant into the sources once (mutant schemata), compiles them with tsc, then runs the
// core's unit tests (ava.mutation.config.js) once per mutant with that mutant switched on.
// Incremental: a re-run retests only mutants whose code or tests changed since the
// results recorded in reports/mutation/incremental.json.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  mutate: ['src/core/**/*.ts'],
  testRunner: 'command',
  commandRunner: { command: 'node scripts/mutation-tests.mjs' },
  buildCommand: 'tsc -p tsconfig.json',
  coverageAnalysis: 'off',
  incremental: true,
  incrementalFile: 'reports/mutation/incremental.json',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
  thresholds: { high: 95, low: 90, break: 90 },
  concurrency: 2,
  timeoutMS: 10000,
  tempDirName: '.stryker-tmp',
  // The chart links its monitoring files to manifests/monitoring (a directory symlink the
  // sandbox copy cannot follow), and no core test reads them; the rest of the chart is
  // copied (key-normalization's test reads its values.yaml).
  ignorePatterns: ['charts/leaseguard/files/monitoring'],
  cleanTempDir: 'always',
};
