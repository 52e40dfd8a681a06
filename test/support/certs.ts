import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI } from './paths.js';

const run = promisify(execFile);

export interface TestCerts {
  dir: string;
  ca: string;
}

/** Certificates made by the product's own `leaseguard certs` command. */
export async function cliCerts(dir?: string, extra: string[] = []): Promise<TestCerts> {
  const target = dir ?? (await mkdtemp(join(tmpdir(), 'lg-certs-')));
  await run(process.execPath, [CLI, 'certs', '--dir', target, '--force', ...extra]);
  return { dir: target, ca: await readFile(join(target, 'ca.crt'), 'utf8') };
}
