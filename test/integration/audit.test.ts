// Every guarded decision reaches the API server's audit log as audit annotations on the
// request ("validate.leaseguard.kubernaut.ai/<key>"): what was decided, on which key and
// Lease, and who held it; leaseguard writes nothing for it.
import { readFile } from 'node:fs/promises';
import test from 'ava';
import { AuditKeys } from '../../src/admission/audit-annotations.js';
import { MANAGED_SELECTOR } from '../../src/core/lock-record.js';
import { controlPlane, coordination, customObjects } from '../harness/integration-env.js';
import { apiError, workflowExecution } from '../harness/objects.js';
import { fastReplicasFor } from '../harness/replicas.js';
import { until } from '../harness/wait.js';
import { lockOf } from '../support/lock-of.js';

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

/** Every audit event, with leaseguard's annotations (prefix dropped) as `a`. */
async function auditEvents(): Promise<Array<AuditEvent & { a: Record<string, string> }>> {
  const lines = (await readFile(controlPlane().auditLog, 'utf8')).split('\n').filter(Boolean);
  return lines.map((l) => {
    const e = JSON.parse(l) as AuditEvent;
    return {
      ...e,
      a: Object.fromEntries(
        Object.entries(e.annotations ?? {})
          .filter(([k]) => k.startsWith(PREFIX))
          .map(([k, v]) => [k.slice(PREFIX.length), v]),
      ),
    };
  });
}

/** The audit events for creates in NS: their answer and leaseguard's annotations. */
async function auditedCreates(): Promise<Array<{ code: number | undefined; a: Record<string, string> }>> {
  return (await auditEvents())
    .filter(
      (e) =>
        e.verb === 'create' &&
        e.stage === 'ResponseComplete' &&
        e.objectRef?.resource === 'workflowexecutions' &&
        e.objectRef.namespace === NS,
    )
    .map((e) => ({ code: e.responseStatus?.code, a: e.a }));
}

/** Polls until `pick` finds something in the audited creates (the log is written in batches, each second). */
const audited = <T>(
  what: string,
  pick: (events: Awaited<ReturnType<typeof auditedCreates>>) => T | undefined | false,
) => until(what, async () => pick(await auditedCreates()), 10_000);

const create = (name: string, key: string) =>
  customObjects('controller')
    .createNamespacedCustomObject({ ...GROUP, body: workflowExecution(NS, name, key) })
    .then(
      () => 201,
      (err) => apiError(err).code,
    );

test('an admit and a busy denial are in the audit log with key, Lease, decision and holder', async (t) => {
  const key = `${NS}/Deployment/audited`;
  t.is(await create('we-a1', key), 201);
  t.is(await create('we-a2', key), 409);
  const list = await coordination('admin').listNamespacedLease({
    namespace: replicas().leaseNamespace,
    labelSelector: MANAGED_SELECTOR,
  });
  const lease = list.items.find((l) => lockOf(l)?.key === key)!;
  const leaseRef = `${replicas().leaseNamespace}/${lease.metadata!.name}`;
  const events = await audited('both creates in the audit log', (all) => {
    const mine = all.filter((e) => e.a.key === key);
    return mine.length >= 2 && mine;
  });
  t.deepEqual(events, [
    { code: 201, a: { decision: 'allowed', key, lease: leaseRef } },
    { code: 409, a: { decision: 'denied-busy', key, lease: leaseRef, holder: `${NS}/we-a1` } },
  ]);
});

test('an invalid key is recorded as denied-invalid; leaseguard writes only its own annotation keys', async (t) => {
  t.is(await create('we-bad', ''), 422);
  const all = await audited(
    'the refused create in the audit log',
    (events) => events.some((e) => e.code === 422 && e.a.decision) && events,
  );
  const invalid = all.filter((e) => e.code === 422 && e.a.decision);
  t.true(
    invalid.some((e) => e.a.decision === 'denied-invalid'),
    JSON.stringify(invalid.map((e) => e.a)),
  );
  // Every leaseguard annotation in the whole log uses one of its own keys.
  const keys = new Set((await auditEvents()).flatMap((e) => Object.keys(e.a)));
  const own: string[] = Object.values(AuditKeys);
  for (const k of keys) t.true(own.includes(k), k);
});
