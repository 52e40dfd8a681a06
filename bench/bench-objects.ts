// What the bench creates, and as whom: shared by the trusted cells and the --scale part.
import { readFileSync } from 'node:fs';
import { leaseName } from '../src/core/lease-name.js';
import { DEFAULT_RULES } from '../src/core/rules.js';
import { LEASE_ANNOTATION } from '../src/core/stamps.js';
import { workflowExecution } from '../test/harness/objects.js';
import type { Client } from './processes.js';

/** The Lease namespace of the installation the baselines' objects are stamped as (the sets trust it: foreignLeaseNamespaces). */
export const ELSEWHERE = 'bench-elsewhere';

/** The bearer token of one of the control plane's kubeconfigs. */
export function token(kubeconfigPath: string): string {
  return (JSON.parse(readFileSync(kubeconfigPath, 'utf8')) as { users: Array<{ user: { token: string } }> }).users[0]!
    .user.token;
}

/**
 * A WorkflowExecution as the bench creates it. Every leader watches every guarded object,
 * so objects created without leaseguard (`guarded` false: the baselines, hot keys among
 * them) are sent stamped as another installation's, for their own lock, which keeps the
 * sets' duplicate monitors (configured to trust that installation) from reporting them,
 * as in a cluster where only leaseguard creates them.
 */
export function benchObject(ns: string, name: string, target: string, guarded: boolean): string {
  const we = workflowExecution(ns, name, target);
  if (!guarded)
    (we.metadata as Record<string, unknown>).annotations = {
      [LEASE_ANNOTATION]: `${ELSEWHERE}/${leaseName(DEFAULT_RULES[0]!, target)}`,
    };
  return JSON.stringify(we);
}

/**
 * Until the namespace's webhooks answer: for a leaseguard set, a stored probe's key is
 * refused to a dry-run second object (and stamped, where the set stamps); elsewhere a
 * dry-run create succeeds.
 */
export async function waitEffective(client: Client, ns: string, guarded: boolean, stamped: boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  const path = `/apis/kubernaut.ai/v1alpha1/namespaces/${ns}/workflowexecutions`;
  while (Date.now() < deadline) {
    if (!guarded) {
      if (
        (await client.request('POST', `${path}?dryRun=All`, benchObject(ns, 'probe', `${ns}/probe`, guarded)))
          .status === 201
      )
        return;
    } else {
      const probe = await client.request('POST', path, benchObject(ns, 'probe', `${ns}/probe`, guarded));
      if (probe.status === 201 && stamped && !probe.body.includes('leaseguard.kubernaut.ai/lock-key')) {
        await client.request('DELETE', `${path}/probe`);
      } else if (probe.status === 201 || probe.status === 409) {
        if (
          (await client.request('POST', `${path}?dryRun=All`, benchObject(ns, 'probe-2', `${ns}/probe`, guarded)))
            .status === 409
        )
          return;
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`webhooks for ${ns} did not take effect`);
}
