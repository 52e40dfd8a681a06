// `npm test`: starts one real control plane (building kube-apiserver and etcd on the first
// run), runs every ava test against it, and tears it down, also when tests fail or the
// run is interrupted. Arguments are passed to ava.
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
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
  process.stderr.write('[test] starting the test control plane (kube-apiserver + etcd)\n');
  const cp = await ControlPlane.start();
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await cp.stop();
    process.exit(code);
  };
  process.once('SIGINT', () => void stop(130));
  process.once('SIGTERM', () => void stop(143));
  try {
    // Disruptive tests run in ava's worker processes; they ask this process to restart a
    // component through a loopback endpoint.
    const control = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const name = url.searchParams.get('name');
      if (req.method !== 'POST' || url.pathname !== '/restart' || (name !== 'etcd' && name !== 'kube-apiserver')) {
        res.writeHead(404).end();
        return;
      }
      cp.restart(name, Number(url.searchParams.get('downMs') ?? 0)).then(
        () => res.writeHead(200).end('restarted'),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    });
    await new Promise<void>((r) => control.listen(0, '127.0.0.1', r));
    control.unref();
    const infoFile = join(cp.info.dir, 'control-plane.json');
    const coverageDir = join(cp.info.dir, 'coverage');
    await writeFile(infoFile, JSON.stringify({ ...cp.info, controlUrl: `http://127.0.0.1:${(control.address() as AddressInfo).port}` }));
    const ava = join(ROOT, 'node_modules/ava/entrypoints/cli.mjs');
    // ava's own summary is counted across both phases for one closing line.
    const totals = { passed: 0, failed: 0 };
    const count = (text: string) => {
      for (const m of text.matchAll(/^\s*(\d+) (?:tests? )?(passed|failed)/gm)) totals[m[2] as 'passed' | 'failed'] += Number(m[1]);
      // A run with failures closes with the failures alone: count its passes line by line.
      if (!/^\s*\d+ (?:tests? )?passed/m.test(text)) totals.passed += [...text.matchAll(/^\s*✔ (?!\[skip\])/gm)].length;
      for (const m of text.matchAll(/^\s*(\d+) (?:hooks? failed|uncaught exceptions?|unhandled rejections?)/gm)) totals.failed += Number(m[1]);
    };
    const runAva = (args: string[]) =>
      new Promise<number>((resolve) => {
        const child = spawn(process.execPath, [ava, ...args], {
          stdio: ['inherit', 'pipe', 'inherit'],
          // Every Node.js process the tests start (ava's workers, leaseguard's replicas and
          // CLI runs) writes its V8 coverage here; c8 merges them below.
          env: { ...process.env, [CONTROL_PLANE_ENV]: infoFile, NODE_V8_COVERAGE: coverageDir },
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
    const args = process.argv.slice(2);
    let code = await runAva(args);
    // A full run also runs the disruptive phase (control-plane restarts, the soak),
    // after everything else, since it takes the shared control plane down and up.
    if (args.length === 0) {
      process.stderr.write(`[test] disruptive phase: control-plane restarts and the soak (${((Date.now() - started) / 1000).toFixed(0)}s so far)\n`);
      const disruptive = await runAva(['--config', 'ava.disruptive.config.js']);
      code = code || disruptive;
    }
    process.stderr.write(`[test] finished in ${((Date.now() - started) / 1000).toFixed(0)}s\n`);
    if (args.length === 0) code = (await reportCoverage(coverageDir)) || code;
    if (code !== 0 && totals.failed === 0) totals.failed = 1; // a run that failed without a count (a crash) still failed
    process.stdout.write(`tests: ${totals.passed} passed, ${totals.failed} failed\n`);
    return code;
  } finally {
    stopping = true;
    await cp.stop();
  }
}

/** Lines of src/ the whole suite must cover (unit tests, servers, replicas, CLI runs). */
const COVERAGE_FLOOR = 90;

/** The whole suite's coverage of src/, with the files under the floor named. */
function reportCoverage(dir: string): Promise<number> {
  return new Promise((resolve) => {
    const c8 = join(ROOT, 'node_modules/c8/bin/c8.js');
    const reportDir = join(dir, 'report');
    const args = [c8, 'report', '--temp-directory', dir, '--reports-dir', reportDir, '--reporter', 'text-summary', '--reporter', 'json-summary'];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: ROOT });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', async (c) => {
      if (c !== 0) return resolve(c ?? 1);
      const summary = JSON.parse(await readFile(join(reportDir, 'coverage-summary.json'), 'utf8')) as Record<string, { lines: { pct: number } }>;
      const total = summary.total!.lines.pct;
      const under = Object.entries(summary)
        .filter(([file, s]) => file !== 'total' && s.lines.pct < COVERAGE_FLOOR)
        .map(([file, s]) => `  ${s.lines.pct.toFixed(1).padStart(5)}%  ${relative(ROOT, file)}`);
      process.stdout.write(`[test] coverage of src/ from the whole suite:${out}`);
      if (under.length > 0) process.stdout.write(`[test] files under ${COVERAGE_FLOOR}% of lines:\n${under.join('\n')}\n`);
      if (total < COVERAGE_FLOOR) process.stderr.write(`[test] lines covered ${total}% < ${COVERAGE_FLOOR}%\n`);
      resolve(total < COVERAGE_FLOOR ? 1 : 0);
    });
  });
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`[test] ${err.message}\n`);
    process.exit(1);
  },
);
