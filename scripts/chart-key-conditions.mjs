// Writes charts/leaseguard/files/key-change-conditions.json: the webhook's key-change
// matchConditions as src/webhook-config.ts generates them (one template per key-path
// depth), which the chart fills per rule, so `leaseguard webhook-config` and the chart
// render the very same conditions from one generator.
// Run after `npm run build`: node scripts/chart-key-conditions.mjs [--check]
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chartConditionsFile } from '../dist/src/webhook-config.js';

const out = fileURLToPath(new URL('../charts/leaseguard/files/key-change-conditions.json', import.meta.url));
const text = chartConditionsFile();
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(out, 'utf8');
  } catch {
    // missing: stale
  }
  if (current !== text) {
    console.error(`${out} is stale: run npm run build && node scripts/chart-key-conditions.mjs`);
    process.exit(1);
  }
} else {
  writeFileSync(out, text);
  console.error(`wrote ${out}`);
}
