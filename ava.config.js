// Tests are written in TypeScript and compiled by `npm run build` (tsc) before ava runs;
// @ava/typescript maps each test/*.ts file to its compiled dist/test/*.js twin.
export default {
  typescript: {
    rewritePaths: { 'test/': 'dist/test/' },
    compile: false,
  },
  files: ['test/**/*.test.ts', '!test/disruptive/**', '!test/e2e/**'],
  timeout: '2m',
  // The integration suite shares one control plane; keep its files from starving each other.
  concurrency: 2,
  workerThreads: false,
};
