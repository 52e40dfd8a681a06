// The release before Lease formats were recorded, built from its commit, so a test can run
// its real replicas beside this version's: git archive of the pinned commit's sources,
// compiled with this checkout's TypeScript and dependencies, cached in ~/.cache/leaseguard
// by commit (a commit never changes, so neither does the build).
import { execFile } from 'node:child_process';
import { access, mkdir, mkdtemp, rename, rm, symlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../harness/paths.js';

const execFileP = promisify(execFile);

/** The last commit whose replicas read and write Lease format 1 only (no format recorded). */
export const FORMAT_1_COMMIT = 'bdb4da1577bdf3f5ea38614ed0bee2fcb65cf8ae';

/** The previous release's compiled CLI (dist/src/cli.js), building it on first use. */
export async function previousReleaseCli(
  commit = FORMAT_1_COMMIT,
  log: (s: string) => void = () => {},
): Promise<string> {
  const dir = join(
    process.env.LEASEGUARD_CACHE_DIR ?? join(homedir(), '.cache', 'leaseguard'),
    'previous-release',
    commit,
  );
  const cli = join(dir, 'dist', 'src', 'cli.js');
  if (
    await access(cli).then(
      () => true,
      () => false,
    )
  ) {
    // The build resolves its packages through a link to a checkout's node_modules; that
    // checkout may be gone (the cache outlives clones), so point it at this one on every use.
    await rm(join(dir, 'node_modules'), { force: true });
    await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    return cli;
  }
  await execFileP('git', ['-C', ROOT, 'cat-file', '-e', `${commit}^{commit}`]).catch(() => {
    throw new Error(
      `commit ${commit} (the previous Lease format's release) is not in this clone; fetch the history (git fetch --unshallow) to run this test`,
    );
  });
  await mkdir(join(dir, '..'), { recursive: true });
  const work = await mkdtemp(`${dir}.building-`);
  try {
    log(`[previous-release] building ${commit.slice(0, 12)} into ${dir}`);
    const t0 = Date.now();
    await execFileP('bash', [
      '-c',
      `git -C "$1" archive "$2" src webhook package.json tsconfig.json tsconfig.build.json | tar -x -C "$3"`,
      'archive',
      ROOT,
      commit,
      work,
    ]);
    await symlink(join(ROOT, 'node_modules'), join(work, 'node_modules'), 'dir');
    // The build's own output tree (rootDir is the checkout): dist/src/cli.js.
    await execFileP(
      process.execPath,
      [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(work, 'tsconfig.build.json')],
      { cwd: work },
    );
    await rm(dir, { recursive: true, force: true });
    await rename(work, dir);
    log(`[previous-release] built in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  } catch (err) {
    await rm(work, { recursive: true, force: true });
    throw err;
  }
  return cli;
}
