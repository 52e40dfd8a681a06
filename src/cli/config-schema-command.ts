import { parseArgs } from 'node:util';
import { configJsonSchema } from '../config-schema.js';

const HELP = `usage: leaseguard config-schema

Prints the JSON Schema (draft 07) of leaseguard's config file: every setting with its
type, bounds, default and meaning. Editors validate a config file with it; the Helm
chart's values.schema.json embeds it as the schema of the chart's 'config' value.
`;

export function configSchemaCommand(argv: string[]): number {
  const { values } = parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
  return 0;
}
