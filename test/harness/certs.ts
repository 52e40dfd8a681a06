import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
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

/**
 * A client certificate (clientAuth) signed by `ca` with exactly the subject attributes
 * given, in order (several CNs allowed), and DNS SANs: shapes `leaseguard certs` never makes.
 */
export async function shapedClientCertificate(
  ca: { cert: string; key: string },
  subject: Array<{ name: string; value: string }>,
  dnsNames: string[] = [],
): Promise<{ cert: string; key: string }> {
  const forge = (await import('node-forge')).default;
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  const priv = forge.pki.privateKeyFromPem(privateKey);
  const c = forge.pki.createCertificate();
  c.publicKey = forge.pki.setRsaPublicKey(priv.n, priv.e);
  c.serialNumber = `0${Date.now().toString(16)}`;
  c.validity.notBefore = new Date(Date.now() - 3_600_000);
  c.validity.notAfter = new Date(Date.now() + 86_400_000);
  c.setSubject(subject);
  c.setIssuer(caCert.subject.attributes);
  c.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', clientAuth: true },
    ...(dnsNames.length ? [{ name: 'subjectAltName', altNames: dnsNames.map((value) => ({ type: 2, value })) }] : []),
  ]);
  c.sign(forge.pki.privateKeyFromPem(ca.key), forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(c), key: privateKey };
}
