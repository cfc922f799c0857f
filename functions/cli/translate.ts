/**
 * `npm run translate -- <input image> -o <out.png> [options]`: translate one image with a model
 * export on this machine's CPU. The README's main command until the HTTP service exists.
 *
 * Exit codes: 0 done; 2 a problem with the arguments or the files they name (one line on stderr
 * naming it, no output written); 1 anything else, which is a bug.
 */
import { USAGE, UsageError, parseTranslateArgs } from './translate-args.ts';
import { runTranslateJob } from './translate-job.ts';

const EXIT_USAGE = 2;
const EXIT_BUG = 1;

async function main(argv: readonly string[]): Promise<number> {
  try {
    const command = parseTranslateArgs(argv);
    if (command.kind === 'help') {
      console.log(USAGE);
      return 0;
    }
    await runTranslateJob(command.job, (line) => console.log(line));
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`translate: ${error.message}`);
      return EXIT_USAGE;
    }
    const message = error instanceof Error ? error.message : String(error);
    console.error(`translate: internal error: ${message.replace(/\s+/g, ' ')}`);
    return EXIT_BUG;
  }
}

process.exitCode = await main(process.argv.slice(2));
