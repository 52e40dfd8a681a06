// Guarded objects as kubernaut's controllers create them.
import { createHash } from 'node:crypto';
import { customObjects } from './integration-env.js';
import { sleep } from './wait.js';

export function workflowExecution(namespace: string, name: string, target: string): Record<string, unknown> {
  return {
    apiVersion: 'kubernaut.ai/v1alpha1',
    kind: 'WorkflowExecution',
    metadata: { name, namespace },
    spec: {
      targetResource: target,
      remediationRequestRef: {
        apiVersion: 'kubernaut.ai/v1alpha1',
        kind: 'RemediationRequest',
        name: `rr-${name}`,
        namespace,
      },
      workflowRef: { workflowId: 'restart-deployment', version: 'v1', executionBundle: 'registry.example/wf@sha256:0' },
    },
  };
}

export function fingerprint(seed: string): string {
  return createHash('sha256').update(seed).digest('hex');
}

export function remediationRequest(namespace: string, name: string, fp: string): Record<string, unknown> {
  const now = new Date().toISOString();
  return {
    apiVersion: 'kubernaut.ai/v1alpha1',
    kind: 'RemediationRequest',
    metadata: { name, namespace },
    spec: {
      signalFingerprint: fp,
      signalName: 'HighMemoryUsage',
      signalType: 'alert',
      severity: 'critical',
      targetType: 'kubernetes',
      targetResource: { kind: 'Deployment', name: 'api', namespace },
      firingTime: now,
      receivedTime: now,
    },
  };
}

/** The HTTP status and Status body of a failed client-node call. */
export function apiError(err: unknown): { code: number; reason?: string; message?: string; details?: any } {
  const e = err as { code?: number; body?: unknown };
  let body: any = e.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      body = { message: body };
    }
  }
  return { code: Number(e.code), reason: body?.reason, message: body?.message, details: body?.details };
}

/**
 * `call`, retried as client-go retries it: a 429 from API Priority and Fairness (the API
 * server shedding a burst before any admission) is tried again after its Retry-After, up
 * to 10 times. Every other answer, leaseguard's included, is returned as it came.
 */
export async function retryingThrottled<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const e = err as { code?: number; headers?: Record<string, string> };
      if (Number(e.code) !== 429 || attempt >= 10) throw err;
      const after = Number(e.headers?.['retry-after'] ?? 1);
      await sleep((Number.isFinite(after) && after > 0 ? after : 1) * 1000);
    }
  }
}

/** Creates with distinct keys from `clients` concurrent clients until `done()`; the failures' messages. */
export async function steadyCreates(
  ns: string,
  clients: number,
  done: () => boolean,
): Promise<{ created: number; failures: string[] }> {
  const api = customObjects('controller');
  let created = 0;
  let seq = 0;
  const failures: string[] = [];
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (!done()) {
        const n = seq++;
        try {
          await api.createNamespacedCustomObject({
            group: 'kubernaut.ai',
            version: 'v1alpha1',
            namespace: ns,
            plural: 'workflowexecutions',
            body: workflowExecution(ns, `we-${n}`, `${ns}/Deployment/d-${n}`),
          });
          created++;
        } catch (err) {
          failures.push(apiError(err).message ?? String(err));
        }
      }
    }),
  );
  return { created, failures };
}
