// How leaseguard's command lines end: one line on stderr naming what stopped them, and an
// exit code a script can branch on (2: used wrongly, see --help; 1: it ran and failed).
import { ErrorCodes, LeaseguardError, hasCode } from '../errors.js';

export interface CliFailure {
  message: string;
  exitCode: 1 | 2;
}

/** What to print and which exit code, for an error that ended a command. */
export function cliFailure(err: unknown): CliFailure {
  if (hasCode(err, ErrorCodes.USAGE)) return { message: err.message, exitCode: 2 };
  // node:util parseArgs: an unknown option, or a value missing or given where none is taken.
  if (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))
    return { message: `${err.message}; see --help`, exitCode: 2 };
  if (err instanceof LeaseguardError) return { message: err.message, exitCode: 1 };
  // Unexpected: the stack is what a bug report needs.
  return { message: err instanceof Error ? (err.stack ?? err.message) : String(err), exitCode: 1 };
}

/** Runs a command line's main: its number is the exit code; a throw is reported by cliFailure. */
export function runCli(prefix: string, main: () => Promise<number>): void {
  main().then(
    (code) => {
      if (code !== 0) process.exitCode = code;
    },
    (err: unknown) => {
      const failure = cliFailure(err);
      process.stderr.write(`${prefix}: ${failure.message}\n`);
      process.exitCode = failure.exitCode;
    },
  );
}
