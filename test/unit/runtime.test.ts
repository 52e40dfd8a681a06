// One Node.js for the image and the tests: .node-version pins it, the Dockerfile's node stages name it, and the runtime runs that binary.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../harness/paths.js';
import { imageStages, pinnedNodeVersion, runtimeMismatch } from '../support/runtime.js';

test('the image runs the exact Node.js the tests are pinned to, an LTS past 20', (t) => {
  const version = pinnedNodeVersion();
  const major = version.split('.')[0]!;
  t.true(Number(major) >= 24 && Number(major) % 2 === 0, `Node.js ${major} is not a current LTS line`);
  const stages = imageStages();
  t.is(stages.length, 3, 'build, deps and runtime stages');
  const [build, deps, runtime] = stages;
  for (const s of [build!, deps!])
    t.is(s.from, `node:${version}-bookworm-slim`, `${s.name}: the pinned release, not a floating ${major} tag`);
  // The runtime base carries no Node.js of its own: the tested binary is copied in.
  t.is(runtime!.from, 'gcr.io/distroless/cc-debian12:nonroot');
  t.is(runtime!.copiesNodeFrom, build!.name);
});

test('the test command refuses another Node.js, saying how to get the pinned one', (t) => {
  t.is(runtimeMismatch(pinnedNodeVersion()), undefined);
  t.regex(
    runtimeMismatch('20.20.2') ?? '',
    /tests run on Node\.js 24\.\d+\.\d+ .*this is 20\.20\.2: run them with `npm test`/,
  );
});

test('the pinned Node.js has a recorded checksum for every architecture ensure-node.sh fetches', (t) => {
  const version = pinnedNodeVersion();
  const lines = readFileSync(join(ROOT, 'scripts/node-checksums.txt'), 'utf8').split('\n');
  for (const arch of ['x64', 'arm64']) {
    const entry = lines.find((l) => l.startsWith(`node-linux-${arch}@${version} `));
    t.regex(entry ?? '', /^\S+ sha512-[A-Za-z0-9+/]{86}==$/, `no checksum for node-linux-${arch}@${version}`);
  }
});

test('the image installs its dependencies without running their install scripts', (t) => {
  const installs = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
    .split('\n')
    .filter((l) => /\bnpm ci\b/.test(l));
  t.is(installs.length, 2);
  for (const line of installs) t.regex(line, /--ignore-scripts/);
});
