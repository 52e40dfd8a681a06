#!/usr/bin/env node
// leaseguard's command line: serve | certs | webhook-config | apiserver-config | locks | why | selftest | config-schema | metrics.
import { runCli } from './cli/exit.js';

const USAGE = `usage: leaseguard <command> [options]

commands:
  serve            run the admission webhook (HTTPS) and metrics (HTTP)
  certs            generate a CA, a serving certificate and the API server's client certificate (node-forge)
  webhook-config   print the Validating/MutatingWebhookConfiguration with the CA bundle
  apiserver-config render kube-apiserver's AdmissionConfiguration that presents the client certificate
  locks            list current locks; 'locks release KEY --force' frees one
  why              explain which Lease and holder block an object, and what frees it
  selftest         prove leaseguard answers for a guarded kind (a dry-run create it must refuse)
  config-schema    print the JSON Schema of the config file
  metrics          print the metrics reference (docs/metrics.md)

Run 'leaseguard <command> --help' for a command's options.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      const code = await (await import('./cli/serve-command.js')).serveCommand(rest);
      // Stopped cleanly (logs flushed, leadership released): do not wait for watches or
      // reconnect timers still unwinding.
      return process.exit(code);
    }
    case 'certs':
      return (await import('./cli/certs-command.js')).certsCommand(rest);
    case 'webhook-config':
      return (await import('./cli/webhook-config-command.js')).webhookConfigCommand(rest);
    case 'apiserver-config':
      return (await import('./cli/apiserver-config-command.js')).apiserverConfigCommand(rest);
    case 'locks':
      return (await import('./cli/locks-command.js')).locksCommand(rest);
    case 'why':
      return (await import('./cli/why-command.js')).whyCommand(rest);
    case 'selftest':
      return (await import('./cli/selftest-command.js')).selftestCommand(rest);
    case 'config-schema':
      return (await import('./cli/config-schema-command.js')).configSchemaCommand(rest);
    case 'metrics':
      return (await import('./cli/metrics-command.js')).metricsCommand(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`leaseguard: unknown command ${JSON.stringify(command)}\n\n${USAGE}\n`);
      return 2;
  }
}

runCli('leaseguard', () => main(process.argv.slice(2)));
