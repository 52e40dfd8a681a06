// The skeleton of every leaseguard command: its options parsed (unknown ones refused),
// --help printed, then its body run. A body fails one way: it throws (usageError: exit 2;
// commandFailed or any other error: exit 1), and runCli (exit.ts) prints the one line.
import { parseArgs } from 'node:util';

type OptionSpec = {
  type: 'string' | 'boolean';
  short?: string;
  default?: string | boolean | string[] | boolean[];
  multiple?: boolean;
};
type Options = Record<string, OptionSpec>;

type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true }>>;

export interface CommandSpec<O extends Options> {
  help: string;
  options: O;
  /** Whether it takes arguments besides options (default: none). */
  positionals?: boolean;
  run(args: Parsed<O>): Promise<number> | number;
}

/** A command line: its main, whose number is the exit code. */
export type Command = (argv: string[]) => Promise<number>;

export function defineCommand<const O extends Options>(spec: CommandSpec<O>): Command {
  return async (argv) => {
    const options = { ...spec.options, help: { type: 'boolean', short: 'h', default: false } } as O;
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- Parsed<O> names the options' own type
    const parsed = parseArgs({ args: argv, options, allowPositionals: spec.positionals ?? false }) as Parsed<O>;
    if ((parsed.values as { help?: boolean }).help) {
      process.stdout.write(spec.help);
      return 0;
    }
    return spec.run(parsed);
  };
}
