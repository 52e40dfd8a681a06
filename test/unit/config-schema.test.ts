import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { loadConfig, type Config } from '../../src/config.js';
import { RULE_FIELDS, SETTINGS, configJsonSchema, configTableMarkdown } from '../../src/config-schema.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';

const CONFIGURATION_PAGE = join(process.cwd(), 'docs/configuration.md');

test("docs/configuration.md's table is the schema's, verbatim, between the generator's markers", (t) => {
  const page = readFileSync(CONFIGURATION_PAGE, 'utf8');
  const marked = /<!-- config-table: [^\n]* -->\n([^]*?)\n<!-- \/config-table -->/.exec(page)?.[1];
  t.is(marked, configTableMarkdown(), 'regenerate it: npm run build && node scripts/config-table.mjs');
});

test('every setting is a field of the loaded configuration, and every field but the derived ones a setting', (t) => {
  const loaded = loadConfig({ env: {} }) as unknown as Record<string, unknown>;
  const derived = new Set(['hostSet', 'pendingTimeoutSet']);
  const names = SETTINGS.map((s) => s.name).filter((n) => n !== 'includeDefaultRules');
  t.deepEqual(
    names.filter((n) => !(n in loaded) && n !== 'clientCaFile' && n !== 'kubeconfig'),
    [],
  );
  t.deepEqual(
    Object.keys(loaded).filter((k) => !derived.has(k) && !names.includes(k)),
    [],
  );
});

test("the schema's defaults are the ones leaseguard starts with", (t) => {
  const loaded = loadConfig({ env: {} }) as unknown as Record<string, unknown>;
  const props = configJsonSchema().properties as Record<string, { default?: unknown }>;
  for (const s of SETTINGS) {
    if (s.default === undefined || s.name === 'includeDefaultRules') continue;
    t.deepEqual(loaded[s.name], s.default, s.name);
    t.deepEqual(props[s.name]!.default, s.default, s.name);
  }
  t.deepEqual(
    (loaded as unknown as Config).rules,
    DEFAULT_RULES.map((r) => ({ ...r, namespaces: ['kubernaut-system'] })),
    'the default rules, in guardedNamespaces',
  );
});

// A value of the wrong shape for each setting an environment variable sets: each is refused by name.
const wrong = (s: (typeof SETTINGS)[number]): string | undefined => {
  if (s.type === 'integer' || s.type === 'number')
    return s.type === 'integer' && s.min !== undefined ? String(s.min + 0.5) : 'many';
  if (s.type === 'boolean') return 'maybe';
  if (s.values) return 'none-of-these';
  if (s.pattern) return 'Not_A_Name';
  return undefined;
};
for (const s of SETTINGS) {
  const bad = s.env ? wrong(s) : undefined;
  if (!s.env || bad === undefined) continue;
  test(`a wrong ${s.name} from ${s.env} is refused by name`, (t) => {
    const err = t.throws(() => loadConfig({ env: { [s.env!]: bad } }));
    t.regex(err.message, new RegExp(`\\b${s.name} must be .*got "${bad}"`));
  });
}

test('the JSON Schema is closed and types every setting and rule field', (t) => {
  const schema = configJsonSchema();
  t.is(schema.additionalProperties, false);
  const props = schema.properties as Record<
    string,
    { type: string; items?: { properties?: Record<string, unknown>; required?: string[] } }
  >;
  t.deepEqual(
    Object.keys(props),
    SETTINGS.map((s) => s.name),
  );
  for (const [name, p] of Object.entries(props)) t.truthy(p.type, name);
  t.deepEqual(
    Object.keys(props.rules!.items!.properties!),
    RULE_FIELDS.map((f) => f.name),
  );
  t.deepEqual(props.rules!.items!.required, [
    'group',
    'version',
    'kind',
    'resource',
    'keyPath',
    'phasePath',
    'terminalPhases',
  ]);
  t.deepEqual((props.store as unknown as { enum: string[] }).enum, ['auto', 'kubernetes', 'memory']);
});

test("docs/configuration.md's rule example shows every rule field", (t) => {
  const readme = readFileSync(CONFIGURATION_PAGE, 'utf8');
  const example = readme.slice(
    readme.indexOf('A rule:\n\n```yaml'),
    readme.indexOf('```\n', readme.indexOf('A rule:\n\n```yaml') + 12),
  );
  for (const f of RULE_FIELDS) t.regex(example, new RegExp(`\\n(?: {4}|  - )${f.name}:`), f.name);
});
