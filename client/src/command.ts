/**
 * What a subcommand of `sa-munit` is, and the one way each reads its arguments: node:util's
 * parseArgs, strict, with its errors turned into usage errors that name the option.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './usage-error.ts';

/** Where a command writes: results (one line per file) to `out`, notices and warnings to `err`. */
export interface CommandIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly cwd: string;
  /** stderr when it is a terminal, which a progress bar may redraw; undefined when it is a file or pipe. */
  readonly errTerminal?: NodeJS.WriteStream | undefined;
}

export interface Command {
  readonly name: string;
  /** One line for `sa-munit --help`. */
  readonly summary: string;
  /**
   * Resolves when the command did what it was asked, or with the exit code of an outcome that is
   * not an error of the command (some batch items failed, Ctrl-C); throws to fail with the code
   * failureReport gives the error.
   */
  run(argv: readonly string[], io: CommandIo): Promise<number | void>;
}

type OptionsSpec = NonNullable<ParseArgsConfig['options']>;

export function parseCommandLine<const T extends OptionsSpec>(argv: readonly string[], options: T) {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (error) {
    // parseArgs' first sentence names the option ("Unknown option '--sead'."); the rest is advice
    // about '--' that confuses more than it helps here.
    const message = (error as Error).message;
    throw new UsageError(/^[^]*?\.(?=\s|$)/.exec(message)?.[0] ?? message);
  }
}
