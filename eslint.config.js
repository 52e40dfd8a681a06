// ESLint: typescript-eslint's type-aware recommended rules, and the floors of src/.
// A module imports only from its own floor's modules and from lower floors; the core, at
// the bottom, does no I/O. `npm run lint` runs this and Prettier's check.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * src/'s floors, lowest first: each entry a folder or a top-level file. Where a floor is
 * `apart`, its folders do not import each other either (admission/ and release/ are two
 * uses of the lock; store/ and tls/ two adapters).
 */
const FLOORS = [
  { units: ['core'] },
  // Shared ground: errors, configuration, metrics, readiness, the Kubernetes client.
  {
    units: [
      'errors.ts',
      'config-schema.ts',
      'config.ts',
      'metrics.ts',
      'metrics-doc.ts',
      'readiness.ts',
      'runner.ts',
      'startup-report.ts',
      'kube',
    ],
  },
  { units: ['store', 'tls'], apart: true },
  { units: ['lock'] },
  { units: ['admission', 'release'], apart: true },
  { units: ['server'] },
  // What the commands put together.
  { units: ['app.ts', 'config-watcher.ts', 'webhook-config.ts', 'apiserver-config.ts'] },
  { units: ['serving.ts'] },
  { units: ['cli', 'cli.ts'] },
];

const SRC = join(import.meta.dirname, 'src');
const placed = new Set(FLOORS.flatMap((f) => f.units));
const unplaced = readdirSync(SRC).filter((name) => !placed.has(name));
if (unplaced.length > 0) throw new Error(`eslint.config.js: put src/${unplaced.join(', src/')} on a floor in FLOORS`);

const isFile = (unit) => unit.endsWith('.ts');
/** How a module in `from` spells an import of `unit` (folder units sit one level down). */
const spelling = (from, unit) => {
  const up = isFile(from) ? './' : '../';
  return isFile(unit) ? `${up}${unit.replace(/\.ts$/, '.js')}` : `${up}${unit}/*`;
};
const glob = (unit) => (isFile(unit) ? `src/${unit}` : `src/${unit}/**/*.ts`);

/** For each unit of src/, the imports its floor forbids. */
function floorRules() {
  return FLOORS.flatMap((floor, level) =>
    floor.units.map((unit) => {
      const higher = FLOORS.slice(level + 1).flatMap((f) => f.units);
      const siblings = floor.apart ? floor.units.filter((u) => u !== unit) : [];
      const patterns = [
        {
          group: ['**/test/**', '**/bench/**'],
          message: 'The product imports nothing from tests or benchmarks.',
        },
      ];
      if (higher.length > 0) {
        patterns.push({
          group: higher.map((u) => spelling(unit, u)),
          message: `src/${unit} is on floor ${level} of eslint.config.js's FLOORS: it imports nothing from a higher floor.`,
        });
      }
      if (siblings.length > 0) {
        patterns.push({
          group: siblings.map((u) => spelling(unit, u)),
          message: `src/${unit} and ${siblings.map((u) => `src/${u}`).join(', ')} share a floor and stay apart: move what both need down.`,
        });
      }
      if (unit === 'core') patterns.push(...CORE_PATTERNS);
      return {
        files: [glob(unit)],
        rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns }] },
      };
    }),
  );
}

/** The core decides; it does no I/O, so it loads no client, server, file or logger module. */
const CORE_PATTERNS = [
  {
    // Hashing is the one builtin the core needs; the file system, sockets, HTTP, TLS,
    // processes and timers' side effects stay above it.
    group: ['node:*', '!node:crypto'],
    message: 'src/core/ does no I/O: of the builtins only node:crypto.',
  },
  {
    group: ['@kubernetes/client-node'],
    allowTypeImports: true,
    message: 'src/core/ may name the API types (import type) but not load the Kubernetes client.',
  },
  {
    // Any other package (koa, pino, prom-client, node-forge, ...) is I/O or state.
    regex: '^(?!\\.\\.?/|node:|@kubernetes/client-node$)',
    message: 'src/core/ imports no packages: only core modules.',
  },
];

export default tseslint.config(
  {
    ignores: ['dist/', 'node_modules/', 'coverage/', 'reports/', '.stryker-tmp/', 'charts/', 'certs/', 'examples/'],
  },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      // One program from tsconfig.json (src, test, bench): a quarter less CPU than the
      // project service, which builds it per file's nearest tsconfig.
      parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A second import of one module, often a separate `import type`: one import line each.
      'no-duplicate-imports': 'error',
      // `_`-prefixed names are placeholders kept for a signature's shape.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // An async method that awaits nothing still implements a Promise-returning interface
      // (LeaseStore, HolderReader, the HTTP library): `async` turns its throws into
      // rejections, which its callers handle. Dropping it would change that.
      '@typescript-eslint/require-await': 'off',
      // Passing on a reason received (an AbortSignal's, a settled Promise's, a caught
      // error) is allowed; making a non-Error is not.
      '@typescript-eslint/prefer-promise-reject-errors': [
        'error',
        { allowThrowingAny: true, allowThrowingUnknown: true },
      ],
      '@typescript-eslint/only-throw-error': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
    },
  },
  {
    // Tests read JSON off the wire (AdmissionReviews, kubectl and API output, rendered
    // manifests) by path and assert on it: typing each document to read it once would
    // restate the API's types in every test, and a wrong shape fails the assertion anyway.
    // src/ and bench/ keep these rules.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // Tests write and match control characters to check that untrusted text is escaped.
      'no-control-regex': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: globals.node },
    rules: { 'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }] },
  },
  ...floorRules(),
);
