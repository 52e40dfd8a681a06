// A second validating webhook beside leaseguard, as a policy engine would be: it may
// answer late (an annotation asks for a delay) or refuse (another annotation), so tests
// can hold a create between leaseguard's answer and its storage, or make a later
// admission step refuse what leaseguard admitted.
import https from 'node:https';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { cliCerts } from '../harness/certs.js';
import { kubectl } from '../harness/integration-env.js';

/** Milliseconds this webhook waits before answering for the object that carries it. */
export const DELAY_ANNOTATION = 'test.leaseguard.kubernaut.ai/delay-ms';
/** Set to any value: this webhook refuses the object. */
export const REFUSE_ANNOTATION = 'test.leaseguard.kubernaut.ai/refuse';

export interface PolicyWebhook {
  /** Answers this webhook has given, by object name, with when they were sent (performance.now). */
  answered: Map<string, number>;
  stop(): Promise<void>;
}

export interface PolicyWebhookOptions {
  /** Names the registration. */
  name: string;
  /** The namespaces it sees: a label selector's matchLabels. */
  namespaceLabels: Record<string, string>;
  /** Its registered timeoutSeconds (1-30); the API server's request timeout caps it too. */
  timeoutSeconds?: number;
}

export async function startPolicyWebhook(o: PolicyWebhookOptions): Promise<PolicyWebhook> {
  const certs = await cliCerts();
  const answered = new Map<string, number>();
  const server = https.createServer(
    { cert: await readFile(join(certs.dir, 'tls.crt')), key: await readFile(join(certs.dir, 'tls.key')) },
    (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const review = JSON.parse(body) as {
          request: {
            uid: string;
            name?: string;
            object?: { metadata?: { name?: string; annotations?: Record<string, string> } };
          };
        };
        const annotations = review.request.object?.metadata?.annotations ?? {};
        const delay = Number(annotations[DELAY_ANNOTATION] ?? 0);
        const refuse = annotations[REFUSE_ANNOTATION] !== undefined;
        setTimeout(() => {
          const name = review.request.object?.metadata?.name ?? review.request.name ?? '';
          answered.set(name, performance.now());
          const response = refuse
            ? { uid: review.request.uid, allowed: false, status: { code: 403, message: 'refused by policy' } }
            : { uid: review.request.uid, allowed: true };
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }));
        }, delay);
      });
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const config = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: o.name },
    webhooks: [
      {
        name: `${o.name}.policy.test.local`,
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: 'Fail',
        timeoutSeconds: o.timeoutSeconds ?? 10,
        clientConfig: { url: `https://127.0.0.1:${port}/`, caBundle: Buffer.from(certs.ca).toString('base64') },
        rules: [
          {
            apiGroups: ['kubernaut.ai'],
            apiVersions: ['v1alpha1'],
            resources: ['workflowexecutions', 'remediationrequests'],
            operations: ['CREATE'],
          },
        ],
        namespaceSelector: { matchLabels: o.namespaceLabels },
      },
    ],
  };
  const applied = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(config) });
  if (applied.code !== 0) {
    server.close();
    throw new Error(`registering the policy webhook failed: ${applied.stderr}`);
  }
  return {
    answered,
    async stop() {
      await kubectl(['delete', '--ignore-not-found', `validatingwebhookconfiguration/${o.name}`]);
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** A WorkflowExecution body with annotations for the policy webhook. */
export function annotated(body: Record<string, unknown>, annotations: Record<string, string>): Record<string, unknown> {
  const metadata = (body.metadata ?? {}) as Record<string, unknown>;
  return {
    ...body,
    metadata: {
      ...metadata,
      annotations: { ...((metadata.annotations as Record<string, string>) ?? {}), ...annotations },
    },
  };
}
