// docs/metrics.md, generated from the metrics table (`leaseguard metrics` prints it;
// test/unit/metrics-doc.test.ts fails when the file is stale).
import { METRICS, type MetricSpec } from './metrics.js';

function labelsCell(spec: MetricSpec): string {
  if (!spec.labels?.length) return '—';
  return spec.labels
    .map((l) => (spec.values?.[l] ? `${l} (${spec.values[l].map((v) => `\`${v}\``).join(', ')})` : l))
    .join(', ');
}

/** The metrics page: every metric with its type, labels (and their values, where fixed) and meaning. */
export function metricsDocMarkdown(): string {
  const specs: readonly MetricSpec[] = Object.values(METRICS);
  const rows = specs.map((s) => `| \`${s.name}\` | ${s.type} | ${labelsCell(s)} | ${s.help} |`);
  return [
    '# Metrics',
    '',
    '<!-- Generated from src/metrics.ts by `leaseguard metrics`; do not edit by hand. -->',
    '',
    "`GET :9090/metrics` on every replica (plus Node.js's process metrics, also prefixed `leaseguard_`).",
    'Metrics marked "leader only" are set by the replica running the release work.',
    '',
    '| metric | type | labels | meaning |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
