import test from 'ava';
import { parseArgs } from 'node:util';
import { cliFailure } from '../../src/cli/exit.js';
import { ErrorCodes, LeaseguardError, configError, usageError } from '../../src/errors.js';

function parseError(args: string[]): unknown {
  try {
    parseArgs({ args, options: { output: { type: 'string' } } });
  } catch (err) {
    return err;
  }
  throw new Error('parseArgs accepted it');
}

const cases: Array<[string, unknown, { exitCode: 1 | 2; message: RegExp }]> = [
  [
    'a usage error',
    usageError('"deployment" is not a kind leaseguard guards'),
    { exitCode: 2, message: /^"deployment" is not a kind leaseguard guards$/ },
  ],
  ['an unknown option', parseError(['-n', 'x']), { exitCode: 2, message: /^Unknown option '-n'.*; see --help$/ }],
  ['an option without its value', parseError(['--output']), { exitCode: 2, message: /--output.*; see --help$/ }],
  [
    'a configuration error',
    configError('cannot load the kubeconfig: no context "nope"'),
    { exitCode: 1, message: /^cannot load the kubeconfig: no context "nope"$/ },
  ],
  [
    'an API failure',
    new LeaseguardError(ErrorCodes.STORE_FORBIDDEN, 'list Leases: forbidden'),
    { exitCode: 1, message: /^list Leases: forbidden$/ },
  ],
  ['a bug', new RangeError('boom'), { exitCode: 1, message: /^RangeError: boom\n\s+at / }],
  ['a thrown string', 'plain', { exitCode: 1, message: /^plain$/ }],
];

for (const [name, err, want] of cases) {
  test(`cliFailure: ${name}`, (t) => {
    const got = cliFailure(err);
    t.is(got.exitCode, want.exitCode);
    t.regex(got.message, want.message);
  });
}
