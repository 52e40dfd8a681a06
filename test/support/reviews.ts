// AdmissionReview requests as the API server sends them, for guarded kinds.
import { randomUUID } from 'node:crypto';

export interface ReviewOptions {
  /** A guarded default (WorkflowExecution, RemediationRequest) or any other kind. */
  kind?: string;
  group?: string;
  operation?: 'CREATE' | 'UPDATE' | 'DELETE';
  name?: string;
  namespace?: string;
  objectUid?: string;
  key?: unknown;
  oldKey?: unknown;
  username?: string;
  pod?: string;
  dryRun?: boolean;
  uid?: string;
}

export function admissionReview(o: ReviewOptions = {}): any {
  const kind = o.kind ?? 'WorkflowExecution';
  const keyField = kind === 'RemediationRequest' ? 'signalFingerprint' : 'targetResource';
  const name = o.name ?? `obj-${randomUUID().slice(0, 8)}`;
  const namespace = o.namespace ?? 'prod';
  const object = (key: unknown) => ({
    apiVersion: `${o.group ?? 'kubernaut.ai'}/v1alpha1`,
    kind,
    metadata: { name, namespace, uid: o.objectUid ?? randomUUID() },
    spec: key === undefined ? {} : { [keyField]: key },
  });
  const extra = o.pod ? { 'authentication.kubernetes.io/pod-name': [o.pod] } : undefined;
  const operation = o.operation ?? 'CREATE';
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: o.uid ?? randomUUID(),
      kind: { group: o.group ?? 'kubernaut.ai', version: 'v1alpha1', kind },
      resource: { group: o.group ?? 'kubernaut.ai', version: 'v1alpha1', resource: `${kind.toLowerCase()}s` },
      operation,
      name,
      namespace,
      userInfo: { username: o.username ?? 'system:serviceaccount:kubernaut-system:ro', ...(extra ? { extra } : {}) },
      object: operation === 'DELETE' ? null : object('key' in o ? o.key : 'prod/Deployment/api'),
      oldObject: operation === 'UPDATE' ? object('oldKey' in o ? o.oldKey : 'prod/Deployment/api') : null,
      dryRun: o.dryRun ?? false,
    },
  };
}
