// A real control plane for the integration tests: etcd and kube-apiserver built from
// their Go modules (scripts/build-control-plane.sh), started on free loopback ports with
// envtest's flags, token authentication and RBAC, and torn down afterwards.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { dumpYaml } from '@kubernetes/client-node';
import { renderApiserverAdmission } from '../../src/apiserver-config.js';
import { DEFAULT_CLIENT_NAME, generateCertificates } from '../../src/tls/certificates.js';
import { ROOT } from './paths.js';
import { sleep } from './wait.js';

const execFileP = promisify(execFile);

/** Identities known to the test API server (token authentication). */
export const IDENTITIES = {
  admin: { user: 'leaseguard-test-admin', groups: ['system:masters'] },
  /** leaseguard's ServiceAccount, as the RBAC in manifests/ names it. */
  leaseguard: {
    user: 'system:serviceaccount:leaseguard-system:leaseguard',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:leaseguard-system'],
  },
  /** A webhook identity with read access to the guarded kinds but no Lease permission. */
  restricted: {
    user: 'system:serviceaccount:leaseguard-system:leaseguard-restricted',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:leaseguard-system'],
  },
  /** An operator in the break-glass group: may force-release locks (rbac.yaml, lease-guard-policy.yaml). */
  breakglass: { user: 'oncall@example.com', groups: ['leaseguard:break-glass'] },
  /** A kubernaut controller that creates the guarded objects. */
  controller: {
    user: 'system:serviceaccount:kubernaut-system:remediationorchestrator',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:kubernaut-system'],
  },
} as const;

export type Identity = keyof typeof IDENTITIES;

/** The test API server's --request-timeout: short, so the pending timeout above it can be too. */
export const REQUEST_TIMEOUT_SECONDS = 20;

/** What the test files learn about the running control plane (through a JSON file). */
export interface ControlPlaneInfo {
  server: string;
  caFile: string;
  dir: string;
  binDir: string;
  version: string;
  kubeconfigs: Record<Identity, string>;
  /**
   * The client certificate the API server presents to every webhook (an
   * AdmissionConfiguration rendered by leaseguard's own renderer), and the CA that
   * signed it: replicas require it, so every integration test takes the authenticated path.
   */
  admissionClient: { caFile: string; certFile: string; keyFile: string; subject: string };
  /** The API server's audit log (JSON lines): requests for the guarded kinds at level Metadata, with admission's audit annotations. */
  auditLog: string;
  /** etcd's client URL (plain HTTP on loopback): its /metrics count the writes a create costs. */
  etcdUrl: string;
  /** Set by `npm test`: POST {controlUrl}/restart?name=etcd|kube-apiserver&downMs=N */
  controlUrl?: string;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function kubeconfig(server: string, ca: string, name: string, token: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'leaseguard-test',
        cluster: { server, 'certificate-authority-data': Buffer.from(ca).toString('base64') },
      },
    ],
    users: [{ name, user: { token } }],
    contexts: [{ name, context: { cluster: 'leaseguard-test', user: name } }],
    'current-context': name,
  });
}

/** Builds (or finds cached) binaries; the script prints progress on stderr. */
export async function ensureBinaries(log: (s: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(ROOT, 'scripts/build-control-plane.sh')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => log(d.toString().trimEnd()));
    child.on('error', reject);
    child.on('close', (code) => {
      const dir = out.trim().split('\n').pop() ?? '';
      if (code === 0 && dir) resolve(dir);
      else reject(new Error(`building the test control plane failed (exit ${code}); see the messages above`));
    });
  });
}

async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  proc?: ChildProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== null) throw new Error(`${what}: the process exited with code ${proc.exitCode}`);
    if (await check().catch(() => false)) return;
    await sleep(200);
  }
  throw new Error(`${what} was not ready within ${timeoutMs / 1000}s`);
}

function httpsOk(url: string, ca: string, token: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(url, { ca, headers: { authorization: `Bearer ${token}` }, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

/** Audit what leaseguard decides on (the guarded kinds' writes), once each, and nothing else. */
const AUDIT_POLICY = {
  apiVersion: 'audit.k8s.io/v1',
  kind: 'Policy',
  omitStages: ['RequestReceived', 'ResponseStarted'],
  rules: [
    {
      level: 'Metadata',
      verbs: ['create', 'update', 'patch'],
      resources: [{ group: 'kubernaut.ai', resources: ['workflowexecutions', 'remediationrequests'] }],
    },
    { level: 'None' },
  ],
};

interface Managed {
  name: 'etcd' | 'kube-apiserver';
  bin: string;
  args: string[];
  proc: ChildProcess;
}

export class ControlPlane {
  readonly #procs: ChildProcess[] = [];
  readonly #managed = new Map<string, Managed>();
  #token = '';
  #ca = '';
  info!: ControlPlaneInfo;

  static async start(log: (s: string) => void = (s) => process.stderr.write(`${s}\n`)): Promise<ControlPlane> {
    const cp = new ControlPlane();
    try {
      await cp.#start(log);
    } catch (err) {
      await cp.stop();
      throw err;
    }
    return cp;
  }

  async #start(log: (s: string) => void): Promise<void> {
    const t0 = Date.now();
    const binDir = await ensureBinaries(log);
    // A kubectl built with the control plane (machines without one) wins over none.
    if (
      !process.env.LEASEGUARD_KUBECTL &&
      (await access(join(binDir, 'kubectl')).then(
        () => true,
        () => false,
      ))
    ) {
      process.env.LEASEGUARD_KUBECTL = join(binDir, 'kubectl');
    }
    const dir = await mkdtemp(join(tmpdir(), 'leaseguard-cp-'));
    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];

    const etcd = this.#spawn(
      'etcd',
      join(binDir, 'etcd'),
      [
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      dir,
    );
    await waitFor('etcd', async () => (await fetch(`http://127.0.0.1:${etcdPort}/health`)).ok, 30_000, etcd);

    const certs = await generateCertificates({
      serviceName: 'kubernetes',
      namespace: 'default',
      extraNames: ['kubernetes.default.svc'],
    });
    const sa = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const tokens = Object.fromEntries(
      Object.keys(IDENTITIES).map((k) => [k, randomBytes(24).toString('hex')]),
    ) as Record<Identity, string>;
    const tokenCsv = (Object.keys(IDENTITIES) as Identity[])
      .map((k, i) => `${tokens[k]},${IDENTITIES[k].user},uid-${i},"${IDENTITIES[k].groups.join(',')}"`)
      .join('\n');
    await Promise.all([
      writeFile(join(dir, 'ca.crt'), certs.caCert),
      writeFile(join(dir, 'apiserver.crt'), certs.cert),
      writeFile(join(dir, 'apiserver.key'), certs.key, { mode: 0o600 }),
      writeFile(join(dir, 'sa.key'), sa.privateKey, { mode: 0o600 }),
      writeFile(join(dir, 'sa.pub'), sa.publicKey),
      writeFile(join(dir, 'tokens.csv'), `${tokenCsv}\n`, { mode: 0o600 }),
    ]);
    const server = `https://127.0.0.1:${apiPort}`;
    // The API server's admission client certificate, presented to every webhook ('*').
    const admissionCerts = await generateCertificates({
      serviceName: 'admission-client',
      namespace: 'default',
      clientName: DEFAULT_CLIENT_NAME,
    });
    const admissionClient = {
      caFile: join(dir, 'admission-client-ca.crt'),
      certFile: join(dir, 'admission-client.crt'),
      keyFile: join(dir, 'admission-client.key'),
      subject: DEFAULT_CLIENT_NAME,
    };
    const rendered = renderApiserverAdmission({
      clientCertPem: admissionCerts.clientCert!,
      clientKeyPem: admissionCerts.clientKey!,
      user: '*',
      kubeconfigPath: join(dir, 'admission-kubeconfig.yaml'),
    });
    await Promise.all([
      writeFile(admissionClient.caFile, admissionCerts.caCert),
      writeFile(admissionClient.certFile, admissionCerts.clientCert!),
      writeFile(admissionClient.keyFile, admissionCerts.clientKey!, { mode: 0o600 }),
      writeFile(join(dir, 'admission-config.yaml'), dumpYaml(rendered.admissionConfiguration)),
      writeFile(join(dir, 'admission-kubeconfig.yaml'), dumpYaml(rendered.kubeconfig), { mode: 0o600 }),
      writeFile(join(dir, 'audit-policy.yaml'), dumpYaml(AUDIT_POLICY)),
    ]);
    const apiserver = this.#spawn(
      'kube-apiserver',
      join(binDir, 'kube-apiserver'),
      [
        '--advertise-address=127.0.0.1',
        '--bind-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--etcd-servers=http://127.0.0.1:${etcdPort}`,
        `--cert-dir=${dir}`,
        `--tls-cert-file=${join(dir, 'apiserver.crt')}`,
        `--tls-private-key-file=${join(dir, 'apiserver.key')}`,
        `--token-auth-file=${join(dir, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        `--service-account-issuer=${server}`,
        `--service-account-key-file=${join(dir, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--allow-privileged=true',
        '--endpoint-reconciler-type=none',
        '--profiling=false',
        // The bound on time from admission to storage that leaseguard's pending timeout must
        // outlast (apiServerRequestTimeoutSeconds in the replicas' FAST timings).
        `--request-timeout=${REQUEST_TIMEOUT_SECONDS}s`,
        // API Priority and Fairness queues a request at most a quarter of the request
        // timeout before a 429; more seats keep the suite's bursts out of the queue.
        '--max-requests-inflight=800',
        '--max-mutating-requests-inflight=400',
        `--admission-control-config-file=${join(dir, 'admission-config.yaml')}`,
        `--audit-policy-file=${join(dir, 'audit-policy.yaml')}`,
        `--audit-log-path=${join(dir, 'audit.log')}`,
        '--audit-log-format=json',
        // Written in batches off the request path (a blocking write would add to every
        // audited request's time), flushed each second.
        '--audit-log-mode=batch',
        '--audit-log-batch-max-wait=1s',
        '--v=1',
      ],
      dir,
    );
    await waitFor('kube-apiserver', () => httpsOk(`${server}/readyz`, certs.caCert, tokens.admin), 120_000, apiserver);
    this.#token = tokens.admin;
    this.#ca = certs.caCert;

    const kubeconfigs = {} as Record<Identity, string>;
    for (const id of Object.keys(IDENTITIES) as Identity[]) {
      kubeconfigs[id] = join(dir, `kubeconfig-${id}.json`);
      await writeFile(kubeconfigs[id], kubeconfig(server, certs.caCert, id, tokens[id]), { mode: 0o600 });
    }
    const version = JSON.parse(
      (await execFileP(join(binDir, 'kube-apiserver'), ['--version'])).stdout.replace(/^Kubernetes /, '"').trim() + '"',
    );
    this.info = {
      server,
      caFile: join(dir, 'ca.crt'),
      dir,
      binDir,
      version,
      kubeconfigs,
      admissionClient,
      auditLog: join(dir, 'audit.log'),
      etcdUrl: `http://127.0.0.1:${etcdPort}`,
    };

    // kubernaut's kinds (simplified stand-ins, test/fixtures/crds), then what a cluster
    // admin installs from manifests/: namespace, RBAC.
    const m = (f: string) => join(ROOT, 'manifests/base', f);
    await this.kubectl([
      'apply',
      '-f',
      join(ROOT, 'test/fixtures/crds'),
      '-f',
      m('namespace.yaml'),
      '-f',
      m('serviceaccount.yaml'),
      '-f',
      m('rbac.yaml'),
      '-f',
      m('flowschema.yaml'),
    ]);
    // The shipped policy that keeps Lease writes to leaseguard (and break glass), bound
    // also to every test Lease namespace (replicas.ts labels them), so every test runs under it.
    await this.kubectl(['apply', '-f', m('lease-guard-policy.yaml')]);
    await this.kubectl(['apply', '-f', '-'], { input: JSON.stringify(testLeasePolicyBinding()) });
    await this.kubectl([
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd/workflowexecutions.kubernaut.ai',
      'crd/remediationrequests.kubernaut.ai',
    ]);
    // The restricted identity may read the guarded kinds but not touch Leases.
    await this.kubectl([
      'create',
      'clusterrolebinding',
      'leaseguard-restricted-reader',
      '--clusterrole=leaseguard-guarded-kinds-reader',
      `--user=${IDENTITIES.restricted.user}`,
    ]);
    // The controller identity creates and completes guarded objects, as kubernaut's do.
    await this.kubectl([
      'create',
      'clusterrole',
      'kubernaut-writer',
      '--verb=get,list,watch,create,update,patch,delete',
      '--resource=workflowexecutions.kubernaut.ai,remediationrequests.kubernaut.ai,workflowexecutions.kubernaut.ai/status,remediationrequests.kubernaut.ai/status',
    ]);
    await this.kubectl([
      'create',
      'clusterrolebinding',
      'kubernaut-writer',
      '--clusterrole=kubernaut-writer',
      `--user=${IDENTITIES.controller.user}`,
    ]);
    log(
      `[control-plane] kube-apiserver ${version} and etcd ready at ${server} in ${((Date.now() - t0) / 1000).toFixed(1)}s`,
    );
  }

  #spawn(name: 'etcd' | 'kube-apiserver', bin: string, args: string[], dir: string): ChildProcess {
    const logFile = createWriteStream(join(dir, `${name}.log`), { flags: 'a' });
    const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.pipe(logFile);
    proc.stderr?.pipe(logFile);
    this.#procs.push(proc);
    this.#managed.set(name, { name, bin, args, proc });
    return proc;
  }

  /** The running component's process id (CPU accounting from /proc). */
  pid(name: 'etcd' | 'kube-apiserver'): number {
    const pid = this.#managed.get(name)?.proc.pid;
    if (pid === undefined) throw new Error(`no ${name} running`);
    return pid;
  }

  /** Kills one component (SIGKILL), keeps it down for `downMs`, starts it again and waits until the API server is ready. */
  async restart(name: 'etcd' | 'kube-apiserver', downMs = 0): Promise<void> {
    const m = this.#managed.get(name);
    if (!m) throw new Error(`no ${name} to restart`);
    if (m.proc.exitCode === null && m.proc.signalCode === null) {
      const exited = new Promise((r) => m.proc.once('exit', r));
      m.proc.kill('SIGKILL');
      await exited;
    }
    await sleep(downMs);
    const proc = this.#spawn(name, m.bin, m.args, this.info.dir);
    await waitFor(
      `${name} after restart`,
      () => httpsOk(`${this.info.server}/readyz`, this.#ca, this.#token),
      120_000,
      proc,
    );
  }

  /** Runs the real kubectl as `identity` against this API server. */
  async kubectl(
    args: string[],
    opts: { identity?: Identity; input?: string } = {},
  ): Promise<{ stdout: string; stderr: string; code: number }> {
    return runKubectl(this.info.kubeconfigs[opts.identity ?? 'admin'], args, opts.input, true);
  }

  async logs(name: 'etcd' | 'kube-apiserver'): Promise<string> {
    return readFile(join(this.info.dir, `${name}.log`), 'utf8');
  }

  async stop(): Promise<void> {
    for (const p of [...this.#procs].reverse()) {
      if (p.exitCode !== null || p.signalCode !== null) continue;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
    if (this.info?.dir && !process.env.LEASEGUARD_KEEP_CONTROL_PLANE)
      await rm(this.info.dir, { recursive: true, force: true });
  }
}

/** Label on the test Lease namespaces that the test binding of lease-guard-policy.yaml selects. */
export const LEASE_NAMESPACE_LABEL = 'leaseguard.kubernaut.ai/locks';

function testLeasePolicyBinding() {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: 'leaseguard-locks-test-namespaces' },
    // The param names the namespace of the service account the replicas run as (leaseguard-system).
    spec: {
      policyName: 'leaseguard-locks',
      validationActions: ['Deny'],
      paramRef: { name: 'leaseguard-system', parameterNotFoundAction: 'Deny' },
      matchResources: { namespaceSelector: { matchLabels: { [LEASE_NAMESPACE_LABEL]: 'true' } } },
    },
  };
}

export function runKubectl(
  kubeconfigPath: string,
  args: string[],
  input?: string,
  throwOnError = false,
): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.env.LEASEGUARD_KUBECTL ?? 'kubectl', ['--kubeconfig', kubeconfigPath, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    // 'close', not 'exit': a process can exit before its output has been read, and a
    // result read at 'exit' then misses it (seen as kubectl exiting 0 with empty stdout).
    child.on('close', (code) => {
      const result = { stdout, stderr, code: code ?? -1 };
      if (throwOnError && code !== 0)
        reject(new Error(`kubectl ${args.join(' ')} failed (${code}): ${stderr || stdout}`));
      else resolve(result);
    });
    child.stdin.end(input ?? '');
  });
}
