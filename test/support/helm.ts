// The helm the chart tests use: built from its Go module by scripts/ensure-helm.sh (cached;
// `npm test` builds it before the suite starts), pointed at the test control plane.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { controlPlane } from '../harness/integration-env.js';
import { ROOT } from '../harness/paths.js';

const run = promisify(execFile);

export const CHART = join(ROOT, 'charts/leaseguard');

let binary: Promise<string> | undefined;

/** Runs helm against the test API server as its admin; never throws on a non-zero exit. */
export async function helm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = await (binary ??= run('bash', [join(ROOT, 'scripts/ensure-helm.sh')], { cwd: ROOT }).then((r) =>
    r.stdout.trim(),
  ));
  try {
    const r = await run(bin, [...args, '--kubeconfig', controlPlane().kubeconfigs.admin], {
      cwd: ROOT,
      maxBuffer: 64 << 20,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
