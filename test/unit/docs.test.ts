// The manual stays true to the source: every relative link in README.md and docs/ names a
// file that exists (and a heading, for an anchor into Markdown); every repository path it
// cites in backquotes exists; and every leaseguard, kubectl leaseguard and npm command its
// code shows names a real command, flag or package.json script. A renamed command, flag,
// script, test or page fails here.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import test from 'ava';

const ROOT = process.cwd();
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** README.md and every page under docs/, as repository paths. */
function pages(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.md') ? [join(dir, e.name)] : [],
    );
  return ['README.md', ...walk('docs')];
}

interface Block {
  lang: string;
  lines: string[];
}

/** Fenced code blocks, and the text outside them (where links and headings live). */
function split(md: string): { prose: string; blocks: Block[] } {
  const blocks: Block[] = [];
  const prose: string[] = [];
  let open: Block | undefined;
  for (const line of md.split('\n')) {
    const fence = /^```(\w*)/.exec(line);
    if (fence && !open) open = { lang: fence[1]!, lines: [] };
    else if (fence && open) {
      blocks.push(open);
      open = undefined;
    } else if (open) open.lines.push(line);
    else prose.push(line);
  }
  return { prose: prose.join('\n'), blocks };
}

/** GitHub's anchors for a page's headings: lowercased, punctuation dropped, spaces as dashes, repeats numbered. */
function anchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of split(md).prose.matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = m[1]!
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\- _]/gu, '')
      .replaceAll(' ', '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

/** Broken relative links of one page: a missing file, or an anchor no heading of its page makes. */
function brokenLinks(page: string, md: string, readPage: (path: string) => string | undefined): string[] {
  const broken: string[] = [];
  const prose = split(md).prose.replace(/`[^`\n]*`/g, '');
  for (const m of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1]!;
    if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
    const [path = '', anchor] = target.split('#');
    const file = path === '' ? page : join(dirname(page), path);
    const text = file.endsWith('.md') ? readPage(file) : undefined;
    if (path !== '' && !existsSync(join(ROOT, file))) broken.push(`${page}: ${target} (no ${file})`);
    else if (anchor !== undefined && text !== undefined && !anchors(text).has(anchor))
      broken.push(`${page}: ${target} (no heading #${anchor} in ${file})`);
  }
  return broken;
}

const PATH_PREFIX = /^(?:src|test|scripts|manifests|charts|bench|examples|webhook|docs)\//;
/** Paths in Kubernaut's repository, which the migration page cites as such. */
const KUBERNAUT_PATH = /^docs\/architecture\//;

/** Repository paths a page cites in backquotes (no globs or placeholders) that do not exist. */
function missingPaths(page: string, md: string): string[] {
  const cited = [...md.matchAll(/`([^`\s]+)`/g)]
    .map((m) => m[1]!)
    .filter((p) => PATH_PREFIX.test(p) && !KUBERNAUT_PATH.test(p) && !/[*<>{}|$]/.test(p));
  return [...new Set(cited)].filter((p) => !existsSync(join(ROOT, p))).map((p) => `${page}: ${p}`);
}

/** Commands a page names inline, in backquotes: `leaseguard why`, `npm run bench -- --scale`. */
function inlineCommands(md: string): string[] {
  return [
    ...split(md).prose.matchAll(/`((?:leaseguard|kubectl leaseguard|npm run|node dist\/src\/cli\.js) [a-z][^`]*)`/g),
  ].map((m) => m[1]!);
}

/** The shell commands a page shows: shell blocks' lines, `$ ` prompts in other blocks, continuations joined, comments cut. */
function commands(md: string): string[] {
  const out: string[] = [];
  for (const block of split(md).blocks) {
    const shell = ['sh', 'bash', 'shell', 'console'].includes(block.lang);
    if (!shell && block.lang !== '') continue;
    let pending = '';
    for (const raw of block.lines) {
      let line = raw.trim();
      if (!shell || line.startsWith('$ ')) {
        if (!line.startsWith('$ ')) continue;
        line = line.slice(2);
      }
      if (line.startsWith('#') || line === '') continue;
      if (line.endsWith('\\')) {
        pending += `${line.slice(0, -1)} `;
        continue;
      }
      out.push(`${pending}${line}`.replace(/\s+#\s.*$/, '').trim());
      pending = '';
    }
  }
  return out;
}

interface Cli {
  commands: Map<string, Set<string>>; // command -> its flags (--long and -s)
  plugin: Map<string, Set<string>>;
  scripts: Set<string>;
}

/** The option names a command's source declares (defineCommand's or parseArgs' options), as flags. */
function flagsOf(sourcePath: string): Set<string> {
  const src = read(sourcePath);
  const flags = new Set<string>();
  for (const m of src.matchAll(/(?:^\s*|[{,]\s*)'?([a-z][a-z-]*)'?: \{ type: '(?:string|boolean)'([^}]*)\}/gm)) {
    flags.add(`--${m[1]}`);
    const short = /short: '(\w)'/.exec(m[2]!)?.[1];
    if (short) flags.add(`-${short}`);
  }
  // defineCommand (src/cli/command.ts) gives every command --help; a command may have no other option.
  if (src.includes('defineCommand(')) flags.add('--help').add('-h');
  if (flags.size === 0) throw new Error(`no options found in ${sourcePath}`);
  return flags;
}

/** What the CLI (src/cli.ts), the kubectl plugin and package.json offer. */
function cli(): Cli {
  const dispatch = (path: string) =>
    new Map(
      [
        ...read(path).matchAll(
          /case '([a-z-]+)':\s*(?:\{\s*const code = await \(await |return \(await )import\('\.\/(?:cli\/)?([a-z-]+)\.js'\)/g,
        ),
      ].map((m) => [m[1]!, `src/cli/${m[2]!}.ts`]),
    );
  const commands = new Map([...dispatch('src/cli.ts')].map(([c, file]) => [c, flagsOf(file)]));
  const plugin = new Map(
    [...dispatch('src/cli/kubectl-plugin.ts')].map(([c, file]) => [
      c,
      new Set([...flagsOf(file), '--lease-namespace']),
    ]),
  );
  const scripts = new Set(
    Object.keys((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts),
  );
  return { commands, plugin, scripts };
}

/** What is wrong with one command line (empty when every leaseguard, plugin and npm command in it is real). */
function wrongCommand(line: string, offered: Cli): string[] {
  const wrong: string[] = [];
  for (const segment of line.split(/\s*(?:&&|\|\||[|;])\s*/)) {
    const words = segment.replace(/^(?:sudo\s+|\w+=\S*\s+)+/, '').split(/\s+/);
    const at = (i: number) => words[i] ?? '';
    const check = (kind: string, table: Map<string, Set<string>>, name: string, rest: string[]) => {
      const flags = table.get(name);
      if (!flags) return wrong.push(`${kind} has no command "${name}": ${line}`);
      for (const w of rest) {
        const flag = /^(--?[a-z][a-z-]*)(?:=.*)?$/.exec(w)?.[1];
        if (flag && !flags.has(flag)) wrong.push(`${kind} ${name} has no flag ${flag}: ${line}`);
      }
      return 0;
    };
    if (at(0) === 'leaseguard') check('leaseguard', offered.commands, at(1), words.slice(2));
    else if (at(0) === 'node' && at(1) === 'dist/src/cli.js')
      check('leaseguard', offered.commands, at(2), words.slice(3));
    else if (at(0) === 'kubectl' && at(1) === 'leaseguard')
      check('kubectl leaseguard', offered.plugin, at(2), words.slice(3));
    else if (at(0) === 'npm' && at(1) === 'run' && !offered.scripts.has(at(2)))
      wrong.push(`package.json has no script "${at(2)}": ${line}`);
    else if (at(0) === 'npm' && ['start', 'test'].includes(at(1)) && !offered.scripts.has(at(1)))
      wrong.push(`package.json has no script "${at(1)}": ${line}`);
  }
  return wrong;
}

const all = () => pages().map((p) => ({ page: p, md: read(p) }));
const readPage = (path: string) => (existsSync(join(ROOT, path)) ? read(path) : undefined);

test('every relative link in README.md and docs/ names an existing file, and an existing heading where it has an anchor', (t) => {
  const docs = all();
  t.true(docs.length >= 25, `${docs.length} pages`);
  t.deepEqual(
    docs.flatMap(({ page, md }) => brokenLinks(page, md, readPage)),
    [],
  );
});

test('every repository path README.md and docs/ cite in backquotes exists', (t) => {
  t.deepEqual(
    all().flatMap(({ page, md }) => missingPaths(page, md)),
    [],
  );
});

test('every leaseguard, kubectl leaseguard and npm command the docs show names a real command, flag or script', (t) => {
  const offered = cli();
  t.true(
    offered.commands.has('serve') && offered.commands.has('locks') && offered.plugin.has('why'),
    'the CLI and the plugin were read',
  );
  const shown = all().flatMap(({ page, md }) => [...commands(md), ...inlineCommands(md)].map((c) => ({ page, c })));
  const checked = shown.filter(
    ({ c }) =>
      /^(?:leaseguard |node dist\/src\/cli\.js |kubectl leaseguard |npm )/.test(c) ||
      /(?:&&|\|) *(?:leaseguard|npm|node dist)/.test(c),
  );
  t.log(
    `${shown.length} commands shown, ${checked.length} of them leaseguard's or npm's:\n${checked.map(({ page, c }) => `  ${relative(ROOT, join(ROOT, page))}: ${c}`).join('\n')}`,
  );
  t.true(checked.length >= 20);
  t.deepEqual(
    shown.flatMap(({ page, c }) => wrongCommand(c, offered).map((w) => `${page}: ${w}`)),
    [],
  );
});

test("the README keeps to a short front page: the quick start's two commands, both install ways, and links to every docs page", (t) => {
  const readme = read('README.md');
  t.true(readme.split('\n').length <= 200, `${readme.split('\n').length} lines`);
  t.deepEqual(commands(readme.slice(readme.indexOf('## Quick start'))).slice(0, 2), ['npm start', 'npm test']);
  t.regex(readme, /helm install leaseguard charts\/leaseguard/);
  t.regex(readme, /kubectl apply -k manifests\//);
  const linked = new Set([...readme.matchAll(/\]\((docs\/[^)#]+)/g)].map((m) => m[1]!));
  const top = pages().filter((p) => dirname(p) === 'docs');
  t.deepEqual(
    top.filter((p) => !linked.has(p)),
    [],
    'every page of docs/ is linked from the README',
  );
});

test('the checks can fail: a missing page, anchor, path, command, flag or script is reported', (t) => {
  const md = [
    '# Page',
    '[ok](#page) [gone](no-such-page.md) [anchor](configuration.md#no-such-heading) `test/unit/no-such.test.ts` `src/config.ts`',
    '```sh',
    'leaseguard serve --config x.yaml',
    'leaseguard sevre',
    'kubectl leaseguard locks --no-such-flag',
    'npm run no-such-script && npm test',
    'node dist/src/cli.js webhook-config --ca certs/ca.crt | kubectl apply -f -',
    '```',
    'Or `leaseguard locks --yse` inline.',
  ].join('\n');
  t.deepEqual(brokenLinks('docs/x.md', md, readPage), [
    'docs/x.md: no-such-page.md (no docs/no-such-page.md)',
    'docs/x.md: configuration.md#no-such-heading (no heading #no-such-heading in docs/configuration.md)',
  ]);
  t.deepEqual(missingPaths('docs/x.md', md), ['docs/x.md: test/unit/no-such.test.ts']);
  const wrong = [...commands(md), ...inlineCommands(md)].flatMap((c) => wrongCommand(c, cli()));
  t.deepEqual(wrong, [
    'leaseguard has no command "sevre": leaseguard sevre',
    'kubectl leaseguard locks has no flag --no-such-flag: kubectl leaseguard locks --no-such-flag',
    'package.json has no script "no-such-script": npm run no-such-script && npm test',
    'leaseguard locks has no flag --yse: leaseguard locks --yse',
  ]);
  t.true(anchors('## What `stampAnnotations` costs\n## Which Node.js\n## A, b\n## A, b').has('a-b-1'));
  t.true(anchors('## Which Node.js').has('which-nodejs'));
});
