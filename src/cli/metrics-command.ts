import { metricsDocMarkdown } from '../metrics-doc.js';
import { defineCommand } from './command.js';

const HELP = `usage: leaseguard metrics

Prints docs/metrics.md: every metric leaseguard exports, with its type, labels and
meaning, from the table the metrics are created from (src/metrics.ts). Regenerate the
page with: leaseguard metrics > docs/metrics.md
`;

export const metricsCommand = defineCommand({
  help: HELP,
  options: {},
  run() {
    process.stdout.write(metricsDocMarkdown());
    return 0;
  },
});
