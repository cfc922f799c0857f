/**
 * `sa-munit <command> [options]`: picks the command and turns its outcome into an exit code.
 * Commands live in commands/, one file each, and share the API client and connection options.
 */
import { readFileSync } from 'node:fs';
import type { Command, CommandIo } from './command.ts';
import { batchCommand } from './commands/batch.ts';
import { translateCommand } from './commands/translate.ts';
import { EXIT_CODES, failureReport } from './exit-status.ts';

const COMMANDS: readonly Command[] = [translateCommand, batchCommand];

const USAGE = `usage: sa-munit <command> [options]

Client of the SA-MUNIT image translation API (a local edge or a deployed one).

commands:
${COMMANDS.map((command) => `  ${command.name.padEnd(12)}${command.summary}`).join('\n')}

Run sa-munit <command> --help for its options. sa-munit --version prints the version.`;

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

export async function main(argv: readonly string[], io: CommandIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.err(USAGE);
    return EXIT_CODES.usage;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    io.out(USAGE);
    return EXIT_CODES.ok;
  }
  if (name === '--version' || name === '-v') {
    io.out(version());
    return EXIT_CODES.ok;
  }
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (command === undefined) {
    io.err(`sa-munit: unknown command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(', ')}; sa-munit --help)`);
    return EXIT_CODES.usage;
  }
  try {
    return (await command.run(rest, io)) ?? EXIT_CODES.ok;
  } catch (error) {
    const { exitCode, message } = failureReport(error);
    io.err(`sa-munit ${command.name}: ${message}`);
    return exitCode;
  }
}
