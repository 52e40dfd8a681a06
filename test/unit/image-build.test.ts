// scripts/build-image.sh builds the image a node runs from the Dockerfile, on local
// stand-ins of its bases: they must carry the pinned Node.js and the Dockerfile's names,
// and the image must be named what the chart's Pods ask for. The pause image's program
// is tested by its own Go test, run here when Go is installed.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { loadYaml } from '@kubernetes/client-node';
import { ROOT } from '../harness/paths.js';
import { pinnedNodeVersion } from '../support/runtime.js';

const run = promisify(execFile);
type Obj = Record<string, any>;

async function printConfig(): Promise<Record<string, string>> {
  const { stdout } = await run('bash', [join(ROOT, 'scripts/build-image.sh'), 'print-config']);
  return Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** A reference as containerd resolves it (docker.io/library/ for a bare name). */
function normalize(ref: string): string {
  const first = ref.includes('/') ? ref.slice(0, ref.indexOf('/')) : '';
  if (!first) return `docker.io/library/${ref}`;
  if (!/[.:]/.test(first) && first !== 'localhost') return `docker.io/${ref}`;
  return ref;
}

test("the stand-in bases are the Dockerfile's bases, with the pinned Node.js", async (t) => {
  const config = await printConfig();
  t.is(config.node_version, pinnedNodeVersion());
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const stages = new Set<string>();
  const bases = new Set<string>();
  for (const m of dockerfile.matchAll(/^FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?/gim)) {
    if (!stages.has(m[1]!.toLowerCase())) bases.add(normalize(m[1]!));
    if (m[2]) stages.add(m[2].toLowerCase());
  }
  t.deepEqual([...bases].sort(), [config.node_base!, config.distroless_base!].sort());
  t.is(config.node_base, `docker.io/library/node:${pinnedNodeVersion()}-bookworm-slim`);
  t.is(config.distroless_base, 'gcr.io/distroless/cc-debian12:nonroot');
});

test("the image is named what the chart's Pods resolve, tagged with the version package.json and Chart.yaml share", async (t) => {
  const config = await printConfig();
  const values = loadYaml<Obj>(readFileSync(join(ROOT, 'charts/leaseguard/values.yaml'), 'utf8'));
  const chart = loadYaml<Obj>(readFileSync(join(ROOT, 'charts/leaseguard/Chart.yaml'), 'utf8'));
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  t.is(values.image.tag, version);
  t.is(String(chart.appVersion), version);
  t.is(config.image, normalize(`${values.image.repository}:${values.image.tag}`));
  t.is(config.image, `docker.io/library/leaseguard:${version}`);
});

const go = [
  process.env.GO,
  '/usr/local/go/bin/go',
  ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'go')),
].find((p): p is string => !!p && existsSync(p));

(go ? test : test.skip)(
  'pause sleeps until SIGINT or SIGTERM, exits 0 on them, and reaps its children (go test)',
  async (t) => {
    const { stdout } = await run(go!, ['test', '-count=1', '.'], {
      cwd: join(ROOT, 'scripts/pause'),
      env: {
        ...process.env,
        GOTOOLCHAIN: 'local',
        GOFLAGS: '',
        PATH: `${join(go!, '..')}${delimiter}${process.env.PATH ?? ''}`,
      },
      timeout: 120_000,
    });
    t.regex(stdout, /^ok\s/m);
  },
);
