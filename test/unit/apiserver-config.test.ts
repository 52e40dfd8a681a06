// The API server's client certificate and the AdmissionConfiguration that presents it.
import { X509Certificate } from 'node:crypto';
import test from 'ava';
import { renderApiserverAdmission, serviceUser, urlUser } from '../../src/apiserver-config.js';
import { generateCertificates } from '../../src/tls/certificates.js';

test('the client certificate is for client use, carries its name and is signed by the CA', async (t) => {
  const b = await generateCertificates({
    serviceName: 'leaseguard',
    namespace: 'leaseguard-system',
    clientName: 'kube-apiserver',
    keyBits: 1024,
  });
  const client = new X509Certificate(b.clientCert!);
  const ca = new X509Certificate(b.caCert);
  t.true(client.verify(ca.publicKey));
  t.regex(client.subject, /CN=kube-apiserver/);
  t.deepEqual(client.keyUsage, ['1.3.6.1.5.5.7.3.2'], 'extended key usage: clientAuth only');
  t.deepEqual(
    new X509Certificate(b.cert).keyUsage,
    ['1.3.6.1.5.5.7.3.1'],
    'the serving certificate stays serverAuth only',
  );
  t.true(
    new Date(client.validFrom).getTime() <= Date.now() - 3_500_000,
    'valid from an hour back, for peers whose clocks run behind',
  );
});

test('no client certificate unless asked for', async (t) => {
  const b = await generateCertificates({ serviceName: 'leaseguard', namespace: 'ns', keyBits: 1024 });
  t.is(b.clientCert, undefined);
});

test('the AdmissionConfiguration names the kubeconfig for both webhook plugins; the kubeconfig user carries the certificate', (t) => {
  const { admissionConfiguration, kubeconfig } = renderApiserverAdmission({
    clientCertPem: 'CERT',
    clientKeyPem: 'KEY',
    user: 'leaseguard.leaseguard-system.svc',
    kubeconfigPath: '/etc/k/kc.yaml',
  });
  t.like(admissionConfiguration, { apiVersion: 'apiserver.config.k8s.io/v1', kind: 'AdmissionConfiguration' });
  const plugins = (
    admissionConfiguration as {
      plugins: Array<{ name: string; configuration: { kind: string; kubeConfigFile: string } }>;
    }
  ).plugins;
  t.deepEqual(
    plugins.map((p) => p.name),
    ['ValidatingAdmissionWebhook', 'MutatingAdmissionWebhook'],
  );
  for (const p of plugins)
    t.deepEqual(p.configuration, {
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'WebhookAdmissionConfiguration',
      kubeConfigFile: '/etc/k/kc.yaml',
    });
  const user = (kubeconfig as { users: Array<{ name: string; user: Record<string, string> }> }).users[0]!;
  t.is(user.name, 'leaseguard.leaseguard-system.svc');
  t.is(Buffer.from(user.user['client-certificate-data']!, 'base64').toString(), 'CERT');
  t.is(Buffer.from(user.user['client-key-data']!, 'base64').toString(), 'KEY');
});

test('user names as the API server matches them: the Service DNS name (port unless 443), a URL host:port', (t) => {
  t.is(serviceUser('leaseguard', 'leaseguard-system'), 'leaseguard.leaseguard-system.svc');
  t.is(serviceUser('leaseguard', 'lg', 8443), 'leaseguard.lg.svc:8443');
  t.is(urlUser('https://127.0.0.1:9443/validate'), '127.0.0.1:9443');
  t.is(urlUser('https://webhook.example.org/'), 'webhook.example.org');
});
