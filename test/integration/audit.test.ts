// Every guarded decision reaches the API server's audit log as audit annotations on the
// request ("validate.leaseguard.kubernaut.ai/<key>"): what was decided, on which key and
// Lease, and who held it; leaseguard writes nothing for it.
import { readFile } from 'node:fs/promises';
import test from 'ava';
import { Annotations, MANAGED_SELECTOR } from '../../src/core/lock-record.js';
import { controlPlane, coordination, customObjects } from '../support/integration-env.js';
import { apiError, workflowExecution } from '../support/objects.js';
import { fastReplicasFor } from '../support/replicas.js';
import { until } from '../support/wait.js';

const SCOPE = 'audit';
const NS = 'audit-prod';
const GROUP = { group: 'kubernaut.ai', version: 'v1alpha1', namespace: NS, plural: 'workflowexecutions' };
const PREFIX = 'validate.leaseguard.kubernaut.ai/';

const replicas = fastReplicasFor(test, { scope: SCOPE, ns: NS, count: 1 });

interface AuditEvent {
  verb: string;
  stage: string;
  objectRef?: { resource?: string; namespace?: string };
  responseStatus?: { code?: number };
  annotations?: Record<string, string>;
}

/** The audit events for creates of `key`, as leaseguard annotated them (prefix dropped). */
async function auditedCreates(key: string): Promise<Array<{ code: number | undefined; a: Record<string, string> }>> {
  const lines = (await readFile(controlPlane().auditLog, 'utf8')).split('\n').filter(Boolean);
  return lines
    .map((l) => JSON.parse(l) as AuditEvent)
    .filter((e) => e.verb === 'create' && e.stage === 'ResponseComplete' && e.objectRef?.resource === 'workflowexecutions' && e.objectRef.namespace === NS)
    .map((e) => ({
      code: e.responseStatus?.code,
      a: Object.fromEntries(Object.entries(e.annotations ?? {}).filter(([k]) => k.startsWith(PREFIX)).map(([k, v]) => [k.slice(PREFIX.length), v])),
    }))
    .filter((e) => e.a.key === key);
}

const create = (name: string, key: string) =>
  customObjects('controller').createNamespacedCustomObject({ ...GROUP, body: workflowExecution(NS, name, key) }).then(() => 201, (err) => apiError(err).code);

test('an admit and a busy denial are in the audit log with key, Lease, decision and holder', async (t) => {
  const key = `${NS}/Deployment/audited`;
  t.is(await create('we-a1', key), 201);
  t.is(await create('we-a2', key), 409);
  const list = await coordination('admin').listNamespacedLease({ namespace: replicas().leaseNamespace, labelSelector: MANAGED_SELECTOR });
  const lease = list.items.find((l) => l.metadata?.annotations?.[Annotations.key] === key)!;
  const leaseRef = `${replicas().leaseNamespace}/${lease.metadata!.name}`;
  const events = await until('both creates in the audit log', async () => {
    const got = await auditedCreates(key);
    return got.length >= 2 && got;
  }, 10_000);
  t.deepEqual(events, [
    { code: 201, a: { decision: 'allowed', key, lease: leaseRef } },
    { code: 409, a: { decision: 'denied-busy', key, lease: leaseRef, holder: `${NS}/we-a1` } },
  ]);
});

test('an invalid key is recorded as denied-invalid; leaseguard writes only its own annotation keys', async (t) => {
  t.is(await create('we-bad', ''), 422);
  const lines = (await readFile(controlPlane().auditLog, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEvent & { objectRef?: { name?: string } });
  const invalid = lines.filter((e) => e.stage === 'ResponseComplete' && e.responseStatus?.code === 422 && e.objectRef?.namespace === NS && e.annotations?.[`${PREFIX}decision`]);
  t.true(invalid.some((e) => e.annotations?.[`${PREFIX}decision`] === 'denied-invalid'), JSON.stringify(invalid.map((e) => e.annotations)));
  // Every leaseguard annotation uses one of its own keys.
  const keys = new Set(lines.flatMap((e) => Object.keys(e.annotations ?? {}).filter((k) => k.startsWith(PREFIX)).map((k) => k.slice(PREFIX.length))));
  for (const k of keys) t.true(['decision', 'key', 'lease', 'holder', 'takeover', 'previous-holder', 'error'].includes(k), k);
});
