import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dumpYaml } from '@kubernetes/client-node';
import { DEFAULT_KUBECONFIG_PATH, renderApiserverAdmission, serviceUser, urlUser } from '../apiserver-config.js';
import { CLIENT_CERT_FILES } from '../tls/certificates.js';
import { usageError, commandFailed } from '../errors.js';
import { defineCommand } from './command.js';

const HELP = `usage: leaseguard apiserver-config [options]

Renders what kube-apiserver's --admission-control-config-file takes so that the API
server presents its client certificate (from 'leaseguard certs') when it calls
leaseguard: an AdmissionConfiguration and the kubeconfig it names. Then set leaseguard's
clientCaFile to the CA that signed the certificate. Managed clusters (EKS, GKE, AKS, ...)
do not let you set this flag: restrict the admission port's sources with the
NetworkPolicy instead (docs/security.md).

  --certs DIR             read client.crt and client.key from DIR (default: certs)
  --service NAME          the webhook Service (default: leaseguard)
  --namespace NS          its namespace (default: leaseguard-system)
  --port N                its port (default: 443)
  --url URL               the webhook's URL, instead of a Service
  --user NAME             the kubeconfig user name instead (e.g. '*.svc'; '*' presents the certificate to every webhook)
  --kubeconfig-path PATH  where the kubeconfig will be on the API server's host
                          (default: ${DEFAULT_KUBECONFIG_PATH})
  --out DIR               write admission-config.yaml and admission-kubeconfig.yaml to DIR
                          (default: print both to stdout, separated by ---)
`;

export const apiserverConfigCommand = defineCommand({
  help: HELP,
  options: {
    certs: { type: 'string', default: 'certs' },
    service: { type: 'string', default: 'leaseguard' },
    namespace: { type: 'string', default: 'leaseguard-system' },
    port: { type: 'string', default: '443' },
    url: { type: 'string' },
    user: { type: 'string' },
    'kubeconfig-path': { type: 'string', default: DEFAULT_KUBECONFIG_PATH },
    out: { type: 'string' },
  },
  async run({ values }) {
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw usageError(`--port must be 1-65535, got ${values.port}`);
    }
    if (values.url && !/^https:\/\//.test(values.url)) {
      throw usageError('--url must start with https://');
    }
    let clientCertPem: string;
    let clientKeyPem: string;
    try {
      [clientCertPem, clientKeyPem] = await Promise.all([
        readFile(join(values.certs, CLIENT_CERT_FILES.cert), 'utf8'),
        readFile(join(values.certs, CLIENT_CERT_FILES.key), 'utf8'),
      ]);
    } catch (err) {
      throw commandFailed(
        `cannot read the client certificate in ${values.certs}: ${(err as Error).message}; generate it with 'leaseguard certs --dir ${values.certs}'`,
      );
    }
    const user =
      values.user ?? (values.url ? urlUser(values.url) : serviceUser(values.service, values.namespace, port));
    const { admissionConfiguration, kubeconfig } = renderApiserverAdmission({
      clientCertPem,
      clientKeyPem,
      user,
      kubeconfigPath: values['kubeconfig-path'],
    });
    if (!values.out) {
      process.stdout.write(
        `# admission-config.yaml (--admission-control-config-file)\n${dumpYaml(admissionConfiguration)}---\n# ${values['kubeconfig-path']}\n${dumpYaml(kubeconfig)}`,
      );
      return 0;
    }
    await mkdir(values.out, { recursive: true });
    await writeFile(join(values.out, 'admission-config.yaml'), dumpYaml(admissionConfiguration));
    await writeFile(join(values.out, 'admission-kubeconfig.yaml'), dumpYaml(kubeconfig), { mode: 0o600 });
    process.stdout.write(
      `wrote ${join(values.out, 'admission-config.yaml')} and ${join(values.out, 'admission-kubeconfig.yaml')} (user ${user}); ` +
        `copy the kubeconfig to ${values['kubeconfig-path']} on each API server host and start kube-apiserver with --admission-control-config-file pointing at the first\n`,
    );
    return 0;
  },
});
