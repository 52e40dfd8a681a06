// leaseguard replicas as real processes of `leaseguard serve` with the Kubernetes store,
// behind a round-robin forwarder, registered with the test API server through the
// configurations `leaseguard webhook-config` renders. Webhooks are scoped to namespaces
// labelled for one test file, so test files do not see each other's webhooks. Each set is
// an installation of its own on one control plane, and sets stamp their objects
// (stampAnnotations) unless told otherwise, so every create also passes the validating
// webhook's check of the stamp. Every leader watches and counts every guarded object (no
// set lists another in foreignLeaseNamespaces): test files use keys of their own, so no
// two sets' objects share a key.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cliCerts, type TestCerts } from './certs.js';
import { metricValue } from './metrics.js';
import { LEASE_NAMESPACE_LABEL, REQUEST_TIMEOUT_SECONDS, type Identity } from './control-plane.js';
import { controlPlane, coordination, kubectl } from './integration-env.js';
import { LEADER_LEASE_NAME } from '../../src/release/release-work.js';
import { CLI, ROOT } from './paths.js';
import { loadAllYaml } from '@kubernetes/client-node';
import { startForwarder, type Forwarder } from './tcp-forwarder.js';
import { HttpsClient } from './https-client.js';
import { sleep } from './wait.js';
import type { TestFn } from 'ava';

const execFileP = promisify(execFile);

export const SCOPE_LABEL = 'leaseguard-test';

/**
 * Timings for tests of the release work: seconds instead of the production defaults'
 * minutes. The pending timeout outlasts the test API server's --request-timeout, as
 * leaseguard requires.
 */
export const FAST = {
  timeoutSeconds: 3,
  pendingSeconds: REQUEST_TIMEOUT_SECONDS + 2,
  leaderLeaseSeconds: 3,
  sweepSeconds: 2,
} as const;
export const FAST_RELEASE_ENV: Record<string, string> = {
  LEASEGUARD_PENDING_TIMEOUT_SECONDS: String(FAST.pendingSeconds),
  LEASEGUARD_APISERVER_REQUEST_TIMEOUT_SECONDS: String(REQUEST_TIMEOUT_SECONDS),
  LEASEGUARD_SWEEP_INTERVAL_SECONDS: String(FAST.sweepSeconds),
  LEASEGUARD_LEADER_LEASE_DURATION_SECONDS: String(FAST.leaderLeaseSeconds),
  LEASEGUARD_LEADER_RENEW_DEADLINE_SECONDS: '2',
  LEASEGUARD_LEADER_RETRY_PERIOD_SECONDS: '0.5',
};

// Replicas this test process started; none may outlive it, even when a test fails midway.
const spawned = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of spawned) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

export interface Replica {
  identity: string;
  port: number;
  metricsPort: number;
  process: ChildProcess;
  logFile: string;
}

export interface ReplicaSetOptions {
  /** Names the webhook configurations and the namespace label they match. */
  scope: string;
  count?: number;
  /** Whose credentials the replicas use (default: leaseguard's ServiceAccount). */
  identity?: Identity;
  /** Extra environment (LEASEGUARD_* settings). */
  env?: Record<string, string>;
  /** Environment for replica i alone (e.g. a skewed clock), over `env`. */
  replicaEnv?: (i: number) => Record<string, string>;
  /** The compiled CLI replica i runs (e.g. a previous release's); default this checkout's. */
  replicaCli?: (i: number) => string;
  timeoutSeconds?: number;
  /** A kubeconfig file to use instead of the identity's (e.g. pointing through a fault proxy). */
  kubeconfig?: string;
  /** Namespace of this set's Leases (and its leader election); default lg-<scope>. */
  leaseNamespace?: string;
}

export class ReplicaSet {
  replicas: Replica[] = [];
  forwarder!: Forwarder;
  certs!: TestCerts;
  logDir!: string;
  /** Replicas that exited without this set asking (a crash, or a signal from outside the test). */
  readonly unexpectedExits: string[] = [];
  readonly #asked = new WeakSet<ChildProcess>();
  readonly webhookName: string;
  readonly leaseNamespace: string;

  private constructor(private readonly o: ReplicaSetOptions) {
    this.webhookName = `leaseguard-${o.scope}`;
    this.leaseNamespace = o.leaseNamespace ?? `lg-${o.scope}`;
  }

  static async start(o: ReplicaSetOptions): Promise<ReplicaSet> {
    const set = new ReplicaSet(o);
    try {
      await set.#start();
    } catch (err) {
      await set.stop();
      throw err;
    }
    return set;
  }

  async #start(): Promise<void> {
    this.logDir = await mkdtemp(join(tmpdir(), `lg-replicas-${this.o.scope}-`));
    this.certs = await cliCerts(join(this.logDir, 'certs'));
    await leaseNamespace(this.leaseNamespace);
    const count = this.o.count ?? 3;
    for (let i = 0; i < count; i++) this.replicas.push(await this.#spawn(`${this.o.scope}-replica-${i}`, i));
    await Promise.all(this.replicas.map((r) => this.waitReady(r)));
    this.forwarder = await startForwarder(this.replicas.map((r) => r.port));
    await this.register();
  }

  /** The set's LEASEGUARD_* settings: stamping on unless the set says otherwise (see the top). */
  #settings(): Record<string, string> {
    // No shutdown delay unless a test asks: there are no endpoints to drop a replica from.
    // Every namespace may create guarded kinds: the webhooks see only this file's labelled
    // namespaces anyway (test/integration/guarded-namespaces.test.ts tests the default).
    return {
      LEASEGUARD_STAMP_ANNOTATIONS: 'true',
      LEASEGUARD_SHUTDOWN_DELAY_SECONDS: '0',
      LEASEGUARD_WEBHOOK_CONFIGURATION_NAME: this.webhookName,
      LEASEGUARD_GUARDED_NAMESPACES: '*',
      ...this.o.env,
    };
  }

  /** Starts one replica on free ports (it binds port 0 and logs what it got). */
  async #spawn(identity: string, index: number): Promise<Replica> {
    const cp = controlPlane();
    const logFile = join(this.logDir, `${identity}.log`);
    const log = createWriteStream(logFile, { flags: 'a' });
    const proc = spawn(process.execPath, [this.o.replicaCli?.(index) ?? CLI, 'serve'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        // The suite's coverage (run-tests.ts) includes the replicas'.
        ...(process.env.NODE_V8_COVERAGE ? { NODE_V8_COVERAGE: process.env.NODE_V8_COVERAGE } : {}),
        POD_NAME: identity,
        POD_NAMESPACE: this.leaseNamespace,
        LEASEGUARD_STORE: 'kubernetes',
        LEASEGUARD_KUBECONFIG: this.o.kubeconfig ?? cp.kubeconfigs[this.o.identity ?? 'leaseguard'],
        LEASEGUARD_HOST: '127.0.0.1',
        LEASEGUARD_ADMISSION_PORT: '0',
        LEASEGUARD_METRICS_PORT: '0',
        LEASEGUARD_CERT_DIR: this.certs.dir,
        LEASEGUARD_TIMEOUT_SECONDS: String(this.o.timeoutSeconds ?? 5),
        LEASEGUARD_LOG_LEVEL: 'info',
        // Only the test API server may call: its admission client certificate.
        LEASEGUARD_CLIENT_CA_FILE: cp.admissionClient.caFile,
        LEASEGUARD_CLIENT_SUBJECTS: cp.admissionClient.subject,
        ...this.#settings(),
        ...this.o.replicaEnv?.(index),
      },
    });
    proc.stdout?.pipe(log);
    proc.stderr?.pipe(log);
    spawned.add(proc);
    proc.once('exit', (code, signal) => {
      spawned.delete(proc);
      if (!this.#asked.has(proc))
        this.unexpectedExits.push(
          `${identity} exited (code ${code}, signal ${signal}) at ${new Date().toISOString()}; see ${logFile}`,
        );
    });
    const ports = await new Promise<{ admissionPort: number; metricsPort: number }>((resolve, reject) => {
      let buf = '';
      const onData = (d: Buffer) => {
        buf += d.toString();
        for (const line of buf.split('\n')) {
          if (!line.includes('"leaseguard is serving"')) continue;
          proc.stdout?.off('data', onData);
          const entry = JSON.parse(line) as { admissionPort: number; metricsPort: number };
          resolve(entry);
          return;
        }
      };
      proc.stdout?.on('data', onData);
      proc.once('exit', (code) =>
        reject(new Error(`replica ${identity} exited with ${code} before serving; see ${logFile}`)),
      );
    });
    return { identity, port: ports.admissionPort, metricsPort: ports.metricsPort, process: proc, logFile };
  }

  /**
   * Whether replica r's /readyz answers 200 now, as a kubelet probe asks: no client
   * certificate, and no verification of the server's (a replica may serve its own).
   */
  ready(r: Replica): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const req = https.get(
        `https://127.0.0.1:${r.port}/readyz`,
        { rejectUnauthorized: false, timeout: 1000, agent: false },
        (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        },
      );
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
    });
  }

  /**
   * Routes new connections only to replicas whose /readyz passes, probed every
   * `intervalMs`, as endpoints follow readiness in a cluster; returns a stop function.
   */
  followReadiness(intervalMs = 200): () => void {
    let stopped = false;
    const tick = async () => {
      while (!stopped) {
        const ready = await Promise.all(this.replicas.map((r) => this.ready(r)));
        const ports = this.replicas.filter((_, i) => ready[i]).map((r) => r.port);
        if (!stopped && ports.length > 0) this.forwarder.backends.splice(0, this.forwarder.backends.length, ...ports);
        await sleep(intervalMs);
      }
    };
    void tick();
    return () => {
      stopped = true;
    };
  }

  /** Replaces each replica in turn as a Deployment's rollout does: SIGTERM, wait for the exit, start the new one, wait until ready. */
  async rollingRestart(): Promise<void> {
    for (let i = 0; i < this.replicas.length; i++) {
      await this.kill(i, 'SIGTERM');
      await this.restart(i);
    }
  }

  async waitReady(r: Replica, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (r.process.exitCode !== null) {
        throw new Error(
          `replica ${r.identity} exited with ${r.process.exitCode}: ${await readFile(r.logFile, 'utf8')}`,
        );
      }
      if (await this.ready(r)) return;
      await sleep(100);
    }
    throw new Error(`replica ${r.identity} not ready within ${timeoutMs}ms`);
  }

  /** Renders the registrations with the product's CLI and applies them, scoped to this set's namespaces. */
  async register(): Promise<void> {
    const { stdout } = await execFileP(
      process.execPath,
      [
        CLI,
        'webhook-config',
        '--ca',
        join(this.certs.dir, 'ca.crt'),
        '--url',
        `https://127.0.0.1:${this.forwarder.port}`,
        '--name',
        this.webhookName,
        '--timeout-seconds',
        String(this.o.timeoutSeconds ?? 5),
        '-o',
        'json',
      ],
      { env: { ...process.env, ...this.#settings() } },
    ); // the set's settings decide what is registered (stampAnnotations), as its ConfigMap would
    const list = JSON.parse(stdout);
    for (const item of list.items) {
      // Within the rendered selector (its exclusions stay): only this set's namespaces.
      for (const w of item.webhooks)
        w.namespaceSelector = { ...w.namespaceSelector, matchLabels: { [SCOPE_LABEL]: this.o.scope } };
    }
    await kubectl(['apply', '-f', '-'], { input: JSON.stringify(list) }).then((r) => {
      if (r.code !== 0) throw new Error(`registering webhooks failed: ${r.stderr}`);
    });
  }

  async unregister(): Promise<void> {
    await kubectl([
      'delete',
      '--ignore-not-found',
      `validatingwebhookconfiguration/${this.webhookName}`,
      `mutatingwebhookconfiguration/${this.webhookName}`,
    ]);
  }

  /** Sends SIGKILL to one replica. */
  async kill(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const r = this.replicas[i];
    if (!r || r.process.exitCode !== null || r.process.signalCode !== null) return;
    const exited = new Promise((res) => r.process.once('exit', res));
    this.#asked.add(r.process);
    r.process.kill(signal);
    await exited;
  }

  /** Starts replica i again (new ports; the forwarder follows). */
  async restart(i: number): Promise<void> {
    const old = this.replicas[i];
    if (!old) throw new Error(`no replica ${i}`);
    await this.kill(i);
    const r = await this.#spawn(old.identity, i);
    this.replicas[i] = r;
    await this.waitReady(r);
    this.forwarder.backends[i] = r.port;
  }

  /** Each replica's metrics page (empty for one that is down). */
  async metrics(): Promise<string[]> {
    return Promise.all(
      this.replicas.map((r) =>
        r.process.exitCode === null && r.process.signalCode === null
          ? fetch(`http://127.0.0.1:${r.metricsPort}/metrics`).then(
              (res) => res.text(),
              () => '',
            )
          : Promise.resolve(''),
      ),
    );
  }

  /** One metric summed over every running replica (a replica with no sample yet adds 0). */
  async metricSum(name: string, labels: Record<string, string> = {}): Promise<number> {
    return (await this.metrics())
      .map((p) => metricValue(p, name, labels))
      .filter((v) => !Number.isNaN(v))
      .reduce((a, b) => a + b, 0);
  }

  /** The index of the replica that leads now, once one does. */
  async leader(timeoutMs = 20_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pages = await this.metrics();
      const i = pages.findIndex((p) => /^leaseguard_leader 1$/m.test(p));
      if (i >= 0) return i;
      if (Date.now() > deadline) throw new Error(`no replica of ${this.o.scope} became leader within ${timeoutMs}ms`);
      await sleep(200);
    }
  }

  /** An HTTPS client for replica i that presents the API server's admission client certificate. */
  async asApiServer(i: number): Promise<HttpsClient> {
    const { certFile, keyFile } = controlPlane().admissionClient;
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    return new HttpsClient(`https://127.0.0.1:${this.replicas[i]!.port}`, this.certs.ca, 64, { cert, key });
  }

  async logs(): Promise<string> {
    return (await Promise.all(this.replicas.map((r) => readFile(r.logFile, 'utf8').catch(() => '')))).join('\n');
  }

  #stopped?: Promise<void>;

  /** Once: a test may stop a set early and still register the stop as a teardown. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      await this.unregister().catch(() => {});
      await this.forwarder?.close();
      await Promise.all(this.replicas.map((_, i) => this.kill(i, 'SIGTERM')));
    })();
    return this.#stopped;
  }
}

/** Creates a namespace whose guarded objects this replica set's webhooks see. */
export async function scopedNamespace(scope: string, name: string): Promise<void> {
  const r = await kubectl(['create', 'namespace', name]);
  if (r.code !== 0 && !r.stderr.includes('AlreadyExists')) throw new Error(r.stderr);
  await kubectl(['label', 'namespace', name, `${SCOPE_LABEL}=${scope}`, '--overwrite']);
}

/**
 * Creates a namespace for Leases with the Role and RoleBinding from manifests/base/rbac.yaml,
 * so leaseguard's identity has there exactly what it has in leaseguard-system.
 */
export async function leaseNamespace(name: string): Promise<void> {
  const r = await kubectl(['create', 'namespace', name]);
  if (r.code !== 0 && !r.stderr.includes('AlreadyExists')) throw new Error(r.stderr);
  const docs = loadAllYaml(await readFile(join(ROOT, 'manifests/base/rbac.yaml'), 'utf8')) as Array<{
    kind: string;
    metadata: { namespace?: string };
  }>;
  await kubectl(['label', 'namespace', name, `${LEASE_NAMESPACE_LABEL}=true`, '--overwrite']);
  const namespaced = docs
    .filter((d) => d.kind === 'Role' || d.kind === 'RoleBinding')
    .map((d) => ({ ...d, metadata: { ...d.metadata, namespace: name } }));
  const applied = await kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: namespaced }),
  });
  if (applied.code !== 0) throw new Error(`applying RBAC to ${name} failed: ${applied.stderr}`);
}

/**
 * Keeps every replica of the set using `leaseNs` from leading: the leader Lease is held by
 * someone who is not a replica, so only admission runs and no release work touches the
 * locks a test leaves. Replaces a leader Lease that is there.
 */
export async function holdLeadership(leaseNs: string): Promise<void> {
  const api = coordination('leaseguard'); // Lease writes there are leaseguard's alone (lease-guard-policy.yaml)
  await api.deleteNamespacedLease({ name: LEADER_LEASE_NAME, namespace: leaseNs }).catch(() => {});
  await api.createNamespacedLease({
    namespace: leaseNs,
    body: {
      metadata: { name: LEADER_LEASE_NAME },
      spec: {
        holderIdentity: 'test-blocker',
        leaseDurationSeconds: 3600,
        renewTime: new Date().toISOString().replace('Z', '000Z') as never,
      },
    },
  });
}

/**
 * The usual setup of an integration test file: `count` replicas with the FAST timings,
 * started before its tests with the namespace `ns` they guard, stopped after them.
 * Returns the set (once started).
 */
export function fastReplicasFor(test: TestFn, o: { scope: string; ns: string; count: number }): () => ReplicaSet {
  let replicas: ReplicaSet | undefined;
  test.before(async () => {
    replicas = await ReplicaSet.start({
      scope: o.scope,
      count: o.count,
      timeoutSeconds: FAST.timeoutSeconds,
      env: FAST_RELEASE_ENV,
    });
    await scopedNamespace(o.scope, o.ns);
  });
  test.after.always(async () => {
    await replicas?.stop();
  });
  return () => {
    if (!replicas) throw new Error(`the replicas of ${o.scope} have not started`);
    return replicas;
  };
}
