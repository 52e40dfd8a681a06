// Packages the kubectl plugin (`kubectl leaseguard`) as krew installs plugins: an archive
// holding the kubectl-leaseguard executable (a wrapper that runs the compiled plugin on
// the Node.js on PATH, 22.19 or newer) with the compiled code and its production
// dependencies, and the krew manifest naming the archive's sha256.
// Run after `npm run build`:
//   node scripts/package-plugin.mjs [--uri URL] [--out DIR]
// --uri is where the archive will be downloaded from (a release asset); the default, a
// file:// URL, serves `kubectl krew install --manifest=leaseguard.yaml --archive=ARCHIVE`.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: { uri: { type: 'string' }, out: { type: 'string', default: join(root, 'dist/plugin') } },
});
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const version = `v${pkg.version}`;
const out = resolve(values.out);
const say = (m) => process.stderr.write(`[plugin] ${m}\n`);

const stage = mkdtempSync(join(tmpdir(), 'leaseguard-plugin-'));
try {
  say(`staging ${version} in ${stage}`);
  cpSync(join(root, 'dist/src'), join(stage, 'dist/src'), { recursive: true, filter: (p) => !p.endsWith('.map') });
  const { devDependencies: _dev, scripts: _scripts, ...runtime } = pkg;
  writeFileSync(
    join(stage, 'package.json'),
    `${JSON.stringify({ ...runtime, bin: { 'kubectl-leaseguard': 'dist/src/cli/kubectl-plugin.js' } }, null, 2)}\n`,
  );
  cpSync(join(root, 'package-lock.json'), join(stage, 'package-lock.json'));
  say('installing the production dependencies (npm ci --omit=dev)');
  // No bin links: krew's unpacker refuses symbolic links in an archive.
  execFileSync(
    'npm',
    ['ci', '--omit=dev', '--ignore-scripts', '--no-bin-links', '--no-audit', '--no-fund', '--loglevel=error'],
    { cwd: stage, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  rmSync(join(stage, 'package-lock.json'));
  const links = execFileSync('find', [stage, '-type', 'l'], { encoding: 'utf8' }).trim();
  if (links) throw new Error(`krew cannot install an archive with symbolic links; found:\n${links}`);
  writeFileSync(
    join(stage, 'kubectl-leaseguard'),
    `#!/bin/sh
# kubectl-leaseguard: leaseguard's kubectl plugin, run on the Node.js on PATH.
here=$(dirname "$(readlink -f "$0")")
if ! command -v node >/dev/null 2>&1; then
  echo "kubectl leaseguard: needs Node.js 22.19 or newer on PATH" >&2
  exit 1
fi
exec node "$here/dist/src/cli/kubectl-plugin.js" "$@"
`,
  );
  chmodSync(join(stage, 'kubectl-leaseguard'), 0o755);
  writeFileSync(join(stage, 'LICENSE'), `${pkg.name} is licensed under ${pkg.license}.\n`);

  mkdirSync(out, { recursive: true });
  const archive = join(out, `kubectl-leaseguard-${version}.tar.gz`);
  execFileSync('tar', ['-czf', archive, '-C', stage, '.']);
  const sha256 = createHash('sha256').update(readFileSync(archive)).digest('hex');
  const uri = values.uri ?? `file://${archive}`;
  const platform = (os, arch) => `    - selector:
        matchLabels:
          os: ${os}
          arch: ${arch}
      uri: ${uri}
      sha256: ${sha256}
      bin: kubectl-leaseguard
      files:
        - from: "*"
          to: "."
`;
  // The archive is JavaScript: one archive serves every platform with Node.js.
  const manifest = `apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: leaseguard
spec:
  version: ${version}
  shortDescription: See and release leaseguard's single-writer locks
  description: |
    leaseguard makes the creation of chosen custom resources single-writer with a
    coordination.k8s.io Lease per lock key, taken by its validating admission webhook.
    This plugin lists the locks (locks), explains which Lease and holder block an
    object or a refused create and what frees it (why), and releases a lock by hand
    for members of the leaseguard:break-glass group (release). Needs Node.js 22.19 or
    newer on PATH.
  caveats: |
    Needs Node.js 22.19 or newer on PATH. Reading locks needs get/list on Leases in
    leaseguard's namespace; release needs the leaseguard:break-glass group.
  platforms:
${platform('linux', 'amd64')}${platform('linux', 'arm64')}${platform('darwin', 'amd64')}${platform('darwin', 'arm64')}`;
  writeFileSync(join(out, 'leaseguard.yaml'), manifest);
  say(`wrote ${archive} (sha256 ${sha256}) and ${join(out, 'leaseguard.yaml')}`);
  process.stdout.write(`${JSON.stringify({ archive, manifest: join(out, 'leaseguard.yaml'), sha256 })}\n`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
