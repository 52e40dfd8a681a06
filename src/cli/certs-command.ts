import { join } from 'node:path';
import {
  CERT_FILES,
  CLIENT_CERT_FILES,
  DEFAULT_CLIENT_NAME,
  certificatesExist,
  generateCertificates,
  writeCertificates,
} from '../tls/certificates.js';
import { usageError, commandFailed } from '../errors.js';
import { defineCommand } from './command.js';

const HELP = `usage: leaseguard certs [options]

Generates a CA, a serving certificate for the webhook Service, localhost and 127.0.0.1,
and the API server's client certificate for calling the webhook (client.crt, client.key;
see leaseguard apiserver-config and clientCaFile).

  --dir DIR          where to write ca.crt, ca.key, tls.crt, tls.key, client.crt, client.key (default: certs)
  --service NAME     Service name (default: leaseguard)
  --namespace NS     Service namespace (default: leaseguard-system)
  --name NAME        an extra DNS name or IPv4 address (repeatable)
  --days N           serving and client certificate validity in days (default: 365)
  --client-name CN   the client certificate's subject (default: kube-apiserver)
  --force            overwrite existing certificates
`;

export const certsCommand = defineCommand({
  help: HELP,
  options: {
    dir: { type: 'string', default: 'certs' },
    service: { type: 'string', default: 'leaseguard' },
    namespace: { type: 'string', default: 'leaseguard-system' },
    name: { type: 'string', multiple: true, default: [] },
    days: { type: 'string', default: '365' },
    'client-name': { type: 'string', default: DEFAULT_CLIENT_NAME },
    force: { type: 'boolean', default: false },
  },
  async run({ values }) {
    const days = Number(values.days);
    if (!Number.isInteger(days) || days < 1 || days > 3650) {
      throw usageError(`--days must be an integer from 1 to 3650, got ${values.days}`);
    }
    if (!values.force && (await certificatesExist(values.dir))) {
      throw commandFailed(
        `${values.dir} already holds ${CERT_FILES.cert} and ${CERT_FILES.key}; pass --force to replace them`,
      );
    }
    const bundle = await generateCertificates({
      serviceName: values.service,
      namespace: values.namespace,
      extraNames: values.name,
      days,
      clientName: values['client-name'],
    });
    await writeCertificates(values.dir, bundle);
    for (const f of [...Object.values(CERT_FILES), ...Object.values(CLIENT_CERT_FILES)])
      process.stdout.write(`wrote ${join(values.dir, f)}\n`);
    process.stdout.write(
      `CA bundle for the webhook registration: ${join(values.dir, CERT_FILES.caCert)} (see: leaseguard webhook-config --ca ${join(values.dir, CERT_FILES.caCert)})\n`,
    );
    process.stdout.write(
      `The API server's client certificate: ${join(values.dir, CLIENT_CERT_FILES.cert)} (CN ${values['client-name']}); ` +
        `render its admission configuration with: leaseguard apiserver-config --certs ${values.dir}, and set clientCaFile to ${join(values.dir, CERT_FILES.caCert)}\n`,
    );
    return 0;
  },
});
