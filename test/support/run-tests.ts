// `npm test`: runs the unit and server tests on their own first (ava.unit.config.js, no
// control plane), then starts one real control plane (building kube-apiserver and etcd on
// the first run), runs the integration and disruptive tests against it, and tears it down,
// also when tests fail or the run is interrupted. Arguments are passed to ava, which then
// runs just those files against the control plane.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ROOT } from '../harness/paths.js';
import { ControlPlane } from '../harness/control-plane.js';
import { CONTROL_PLANE_ENV } from '../harness/integration-env.js';
import { runtimeMismatch } from './runtime.js';

async function main(): Promise<number> {
  const started = Date.now();
  const mismatch = runtimeMismatch();
  if (mismatch) {
    process.stderr.write(`[test] ${mismatch}\n`);
    return 2;
  }
  process.stderr.write(`[test] Node.js ${process.version} (${process.execPath})\n`);
  const args = process.argv.slice(2);
  const whole = args.length === 0;
  // Every Node.js process the tests start (ava's workers, leaseguard's replicas and CLI
  // runs) writes its V8 coverage here, in both phases; c8 merges them at the end.
  const coverageDir = await mkdtemp(join(tmpdir(), 'leaseguard-coverage-'));
  const keep = Boolean(process.env.LEASEGUARD_KEEP_CONTROL_PLANE);
  let cp: ControlPlane | undefined;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await cp?.stop();
    if (!keep) await rm(coverageDir, { recursive: true, force: true });
    process.exit(code);
  };
  process.once('SIGINT', () => void stop(130));
  process.once('SIGTERM', () => void stop(143));
  // ava's own summary is counted across the phases for one closing line.
  const totals = { passed: 0, failed: 0 };
  const count = (text: string) => {
    for (const m of text.matchAll(/^\s*(\d+) (?:tests? )?(passed|failed)/gm))
      totals[m[2] as 'passed' | 'failed'] += Number(m[1]);
    // A run with failures closes with the failures alone: count its passes line by line.
    if (!/^\s*\d+ (?:tests? )?passed/m.test(text)) totals.passed += [...text.matchAll(/^\s*✔ (?!\[skip\])/gm)].length;
    for (const m of text.matchAll(/^\s*(\d+) (?:hooks? failed|uncaught exceptions?|unhandled rejections?)/gm))
      totals.failed += Number(m[1]);
  };
  const ava = join(ROOT, 'node_modules/ava/entrypoints/cli.mjs');
  const runAva = (avaArgs: string[], env: Record<string, string> = {}) =>
    new Promise<number>((resolve) => {
      const child = spawn(process.execPath, [ava, ...avaArgs], {
        stdio: ['inherit', 'pipe', 'inherit'],
        env: { ...process.env, ...env, NODE_V8_COVERAGE: coverageDir },
      });
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        process.stdout.write(d);
        out += d.toString();
      });
      child.on('exit', (c, signal) => {
        count(out);
        resolve(c ?? (signal ? 1 : 0));
      });
    });
  const seconds = () => ((Date.now() - started) / 1000).toFixed(0);
  try {
    let code = 0;
    // The fast tier first, on its own: it needs no control plane, so its failures show
    // before the control plane is built or started.
    if (whole) {
      process.stderr.write('[test] unit and server tests (ava.unit.config.js), no control plane\n');
      code = await runAva(['--config', 'ava.unit.config.js']);
      process.stderr.write(`[test] unit and server tests done in ${seconds()}s\n`);
    }
    process.stderr.write('[test] starting the test control plane (kube-apiserver + etcd)\n');
    cp = await ControlPlane.start();
    const plane = cp;
    // Disruptive tests run in ava's worker processes; they ask this process to restart a
    // component through a loopback endpoint.
    const control = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const name = url.searchParams.get('name');
      if (req.method !== 'POST' || url.pathname !== '/restart' || (name !== 'etcd' && name !== 'kube-apiserver')) {
        res.writeHead(404).end();
        return;
      }
      plane.restart(name, Number(url.searchParams.get('downMs') ?? 0)).then(
        () => res.writeHead(200).end('restarted'),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    });
    await new Promise<void>((r) => control.listen(0, '127.0.0.1', r));
    control.unref();
    const infoFile = join(plane.info.dir, 'control-plane.json');
    await writeFile(
      infoFile,
      JSON.stringify({ ...plane.info, controlUrl: `http://127.0.0.1:${(control.address() as AddressInfo).port}` }),
    );
    const withPlane = { [CONTROL_PLANE_ENV]: infoFile };
    if (whole) {
      process.stderr.write(`[test] integration tests (ava.integration.config.js) (${seconds()}s so far)\n`);
      code = (await runAva(['--config', 'ava.integration.config.js'], withPlane)) || code;
      // Last, since it takes the shared control plane down and up.
      process.stderr.write(`[test] disruptive phase: control-plane restarts and the soak (${seconds()}s so far)\n`);
      code = (await runAva(['--config', 'ava.disruptive.config.js'], withPlane)) || code;
    } else {
      code = await runAva(args, withPlane);
    }
    process.stderr.write(`[test] finished in ${seconds()}s\n`);
    if (whole) code = (await reportCoverage(coverageDir)) || code;
    if (code !== 0 && totals.failed === 0) totals.failed = 1; // a run that failed without a count (a crash) still failed
    process.stdout.write(`tests: ${totals.passed} passed, ${totals.failed} failed\n`);
    return code;
  } finally {
    stopping = true;
    await cp?.stop();
    if (!keep) await rm(coverageDir, { recursive: true, force: true });
  }
}

/** Lines of src/ the whole suite must cover (unit tests, servers, replicas, CLI runs). */
const COVERAGE_FLOOR = 90;

/** The whole suite's coverage of src/, with the files under the floor named. */
async function reportCoverage(dir: string): Promise<number> {
  const c8 = join(ROOT, 'node_modules/c8/bin/c8.js');
  const reportDir = join(dir, 'report');
  const args = [
    c8,
    'report',
    '--temp-directory',
    dir,
    '--reports-dir',
    reportDir,
    '--reporter',
    'text-summary',
    '--reporter',
    'json-summary',
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: ROOT });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const [c] = (await once(child, 'exit')) as [number | null];
  if (c !== 0) return c ?? 1;
  // A summary that cannot be read rejects, and main() reports it.
  const summary = JSON.parse(await readFile(join(reportDir, 'coverage-summary.json'), 'utf8')) as Record<
    string,
    { lines: { pct: number } }
  >;
  const total = summary.total!.lines.pct;
  const under = Object.entries(summary)
    .filter(([file, s]) => file !== 'total' && s.lines.pct < COVERAGE_FLOOR)
    .map(([file, s]) => `  ${s.lines.pct.toFixed(1).padStart(5)}%  ${relative(ROOT, file)}`);
  process.stdout.write(`[test] coverage of src/ from the whole suite:${out}`);
  if (under.length > 0) process.stdout.write(`[test] files under ${COVERAGE_FLOOR}% of lines:\n${under.join('\n')}\n`);
  if (total < COVERAGE_FLOOR) process.stderr.write(`[test] lines covered ${total}% < ${COVERAGE_FLOOR}%\n`);
  return total < COVERAGE_FLOOR ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`[test] ${err.message}\n`);
    process.exit(1);
  },
);
