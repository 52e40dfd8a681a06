// `npm test`: starts one real control plane (building kube-apiserver and etcd on the first
// run), runs every ava test against it, and tears it down, also when tests fail or the
// run is interrupted. Arguments are passed to ava.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT } from './paths.js';
import { ControlPlane } from './control-plane.js';
import { CONTROL_PLANE_ENV } from './integration-env.js';



async function main(): Promise<number> {
  const started = Date.now();
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
    const infoFile = join(cp.info.dir, 'control-plane.json');
    await writeFile(infoFile, JSON.stringify(cp.info));
    const ava = join(ROOT, 'node_modules/ava/entrypoints/cli.mjs');
    const code = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, [ava, ...process.argv.slice(2)], {
        stdio: 'inherit',
        env: { ...process.env, [CONTROL_PLANE_ENV]: infoFile },
      });
      child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
    });
    process.stderr.write(`[test] finished in ${((Date.now() - started) / 1000).toFixed(0)}s\n`);
    return code;
  } finally {
    stopping = true;
    await cp.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`[test] ${err.message}\n`);
    process.exit(1);
  },
);
