// Builds and runs the Go client examples (examples/go) for the integration tests. The
// build is bounded: a module proxy that does not answer fails the build with what to do,
// instead of hanging the run until CI's limit.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../harness/paths.js';

export const GO_EXAMPLES = join(ROOT, 'examples/go');

const seconds = (name: string, fallback: number) =>
  (Number(process.env[name]) > 0 ? Number(process.env[name]) : fallback) * 1000;
/** Module downloads (first run on a machine) and the build (first build of client-go: minutes on 2 cores). */
const DOWNLOAD_TIMEOUT_MS = seconds('LEASEGUARD_GO_DOWNLOAD_TIMEOUT_SECONDS', 300);
const BUILD_TIMEOUT_MS = seconds('LEASEGUARD_GO_BUILD_TIMEOUT_SECONDS', 480);

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { killed?: boolean; code?: number | string }) | null;
        if (e?.code === 'ENOENT') resolve({ code: null, stdout, stderr: `${cmd} not found on PATH`, timedOut: false });
        else
          resolve({
            code: e ? (typeof e.code === 'number' ? e.code : 1) : 0,
            stdout,
            stderr,
            timedOut: Boolean(e?.killed),
          });
      },
    );
  });
}

/** Go's environment for the examples: this machine's Go only, go.sum as committed. */
function goEnv(): NodeJS.ProcessEnv {
  return { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=readonly -buildvcs=false', CGO_ENABLED: '0' };
}

/** Builds `gateway` and `orchestrator` into a new temporary directory; returns their paths. */
export async function buildGoExamples(): Promise<{ gateway: string; orchestrator: string }> {
  const env = goEnv();
  const proxy = (await run('go', ['env', 'GOPROXY'], { env, timeoutMs: 30_000 })).stdout.trim() || '(unset)';
  const download = await run('go', ['mod', 'download'], { cwd: GO_EXAMPLES, env, timeoutMs: DOWNLOAD_TIMEOUT_MS });
  if (download.code === null)
    throw new Error(
      'Go is not installed: the Go examples (examples/go) need Go >= 1.24 on PATH, as `npm test` does for the control plane',
    );
  if (download.timedOut || download.code !== 0) {
    throw new Error(
      `downloading the Go modules of examples/go ${download.timedOut ? `did not finish within ${DOWNLOAD_TIMEOUT_MS / 1000} s` : 'failed'} ` +
        `(GOPROXY=${proxy}): the module proxy is slow or unreachable. Run \`cd examples/go && go mod download\` once the proxy answers ` +
        `(it fills Go's module cache, and later runs need no network), or point GOPROXY at a reachable proxy.\n${download.stderr}`,
    );
  }
  const out = await mkdtemp(join(tmpdir(), 'lg-go-examples-'));
  const build = await run('go', ['build', '-trimpath', '-o', `${out}/`, './cmd/...'], {
    cwd: GO_EXAMPLES,
    env,
    timeoutMs: BUILD_TIMEOUT_MS,
  });
  if (build.timedOut || build.code !== 0) {
    throw new Error(
      `go build of examples/go ${build.timedOut ? `did not finish within ${BUILD_TIMEOUT_MS / 1000} s` : 'failed'}:\n${build.stderr}`,
    );
  }
  return { gateway: join(out, 'gateway'), orchestrator: join(out, 'orchestrator') };
}

/** Runs the examples' own Go tests (the denial parser); throws with their output on failure. */
export async function goTestExamples(): Promise<string> {
  const r = await run('go', ['test', './denial/...'], { cwd: GO_EXAMPLES, env: goEnv(), timeoutMs: BUILD_TIMEOUT_MS });
  if (r.code !== 0) throw new Error(`go test in examples/go failed:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

export interface ExampleRun<T> {
  code: number | null;
  report?: T;
  stderr: string;
  startedAt: number;
  endedAt: number;
}

/** Runs one example process to its end; its report is the last JSON line it printed. */
export function runExample<T>(bin: string, args: string[], timeoutMs = 150_000): Promise<ExampleRun<T>> {
  const startedAt = performance.now();
  return new Promise((resolve) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(timer);
      const last = stdout.trim().split('\n').pop();
      let report: T | undefined;
      try {
        report = last ? (JSON.parse(last) as T) : undefined;
      } catch {
        stderr += `\n(unparsable report: ${last})`;
      }
      resolve({ code, ...(report ? { report } : {}), stderr, startedAt, endedAt: performance.now() });
    });
  });
}
