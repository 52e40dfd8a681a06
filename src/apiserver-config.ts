// What kube-apiserver's --admission-control-config-file takes so that it presents a
// client certificate to leaseguard (Kubernetes: "Authenticate apiservers"): an
// AdmissionConfiguration pointing both webhook admission plugins at a kubeconfig whose
// user, named after the webhook's host, carries the certificate.

export const DEFAULT_KUBECONFIG_PATH = '/etc/kubernetes/leaseguard/admission-kubeconfig.yaml';

export interface ApiserverAdmissionOptions {
  clientCertPem: string;
  clientKeyPem: string;
  /**
   * The kubeconfig user: the webhook's host as the API server calls it, e.g.
   * `leaseguard.leaseguard-system.svc` (with `:port` when not 443), `127.0.0.1:8443`, or
   * a wildcard (`*.svc`, `*`) that also presents the certificate to other webhooks.
   */
  user: string;
  /** Where the kubeconfig will be on the API server's host. */
  kubeconfigPath: string;
}

/** The kubeconfig user name for a webhook Service: its DNS name, with the port when not 443. */
export function serviceUser(name: string, namespace: string, port = 443): string {
  return `${name}.${namespace}.svc${port === 443 ? '' : `:${port}`}`;
}

/** The kubeconfig user name for a webhook URL: its host, with the port when one is given. */
export function urlUser(url: string): string {
  const u = new URL(url);
  return u.port ? `${u.hostname}:${u.port}` : u.hostname;
}

export function renderApiserverAdmission(o: ApiserverAdmissionOptions): {
  admissionConfiguration: Record<string, unknown>;
  kubeconfig: Record<string, unknown>;
} {
  const plugin = (name: string) => ({
    name,
    configuration: {
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'WebhookAdmissionConfiguration',
      kubeConfigFile: o.kubeconfigPath,
    },
  });
  return {
    admissionConfiguration: {
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'AdmissionConfiguration',
      plugins: [plugin('ValidatingAdmissionWebhook'), plugin('MutatingAdmissionWebhook')],
    },
    kubeconfig: {
      apiVersion: 'v1',
      kind: 'Config',
      users: [
        {
          name: o.user,
          user: {
            'client-certificate-data': Buffer.from(o.clientCertPem).toString('base64'),
            'client-key-data': Buffer.from(o.clientKeyPem).toString('base64'),
          },
        },
      ],
    },
  };
}
