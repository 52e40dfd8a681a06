import { fileURLToPath } from 'node:url';

/** The project root (tests run from dist/test/...). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The compiled CLI entry point. */
export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
