import { configJsonSchema } from '../config-schema.js';
import { defineCommand } from './command.js';

const HELP = `usage: leaseguard config-schema

Prints the JSON Schema (draft 07) of leaseguard's config file: every setting with its
type, bounds, default and meaning. Editors validate a config file with it; the Helm
chart's values.schema.json embeds it as the schema of the chart's 'config' value.
`;

export const configSchemaCommand = defineCommand({
  help: HELP,
  options: {},
  run() {
    process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    return 0;
  },
});
