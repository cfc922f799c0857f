/**
 * `npm start`: the whole service locally on embedded defaults (see stack.ts), until Ctrl-C.
 *
 *   npm start                                   # edge :8787, function :8080, object store :9000
 *   npm start -- --edge-port 9787 --quiet       # or EDGE_PORT=9787 npm start
 *   npm start -- --help
 *
 * Exit codes: 0 stopped by a signal; 1 a process of the stack crashed or never became ready (its
 * last log lines are printed); 2 a bad option.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEV_KEYS_FILE_NAME } from '../../contract/dev-keys-file.ts';
import { startLocalStack, type LocalStack } from './stack.ts';

const USAGE = `usage: npm start -- [options]

Starts a local S3-protocol store seeded with the demo model, one inference function on CPU and the
edge under wrangler dev, then prints the URLs and a development key. Ctrl-C stops everything.

options (environment variable in brackets):
  --edge-port N       the edge: web page and public API (EDGE_PORT, default 8787)
  --function-port N   the inference function (FUNCTION_PORT, default 8080)
  --store-port N      the S3-protocol object store (STORE_PORT, default 9000)
  --data-dir DIR      state kept between starts (LOCAL_DATA_DIR, default .local)
  --model DIR         a model export folder to serve instead of the demo model (MODEL_DIR)
  --quiet             print only the stack's own messages, not the processes' logs
  -h, --help          this text`;

const EXIT_CRASH = 1;
const EXIT_USAGE = 2;
/** Signals closer together than this are one Ctrl-C; a later one forces the exit. */
const DUPLICATE_SIGNAL_MS = 1500;

class UsageError extends Error {}

function portOption(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) > 65_535) throw new UsageError(`${name} must be a port number from 0 to 65535 (got "${text}")`);
  return Number(text);
}

function parseOptions(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      'edge-port': { type: 'string' },
      'function-port': { type: 'string' },
      'store-port': { type: 'string' },
      'data-dir': { type: 'string' },
      model: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const env = process.env;
  return {
    help: values.help ?? false,
    quiet: values.quiet ?? false,
    edgePort: portOption('--edge-port / EDGE_PORT', values['edge-port'] ?? env['EDGE_PORT'], 8787),
    functionPort: portOption('--function-port / FUNCTION_PORT', values['function-port'] ?? env['FUNCTION_PORT'], 8080),
    storePort: portOption('--store-port / STORE_PORT', values['store-port'] ?? env['STORE_PORT'], 9000),
    dataDir: resolve(values['data-dir'] ?? env['LOCAL_DATA_DIR'] ?? '.local'),
    modelDir: values.model ?? env['MODEL_DIR'],
  };
}

/** The function logs pino JSON: one short line per record is enough on a terminal. */
function readableLine(name: string, line: string): string {
  if (name === 'function' && line.startsWith('{')) {
    try {
      const record = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
      const level = (record.level ?? 30) >= 50 ? 'ERROR ' : (record.level ?? 30) >= 40 ? 'WARN ' : '';
      return `[function] ${level}${record.msg ?? ''}${record.err?.message === undefined ? '' : `: ${record.err.message}`}`;
    } catch {
      // not JSON after all
    }
  }
  return `[${name}] ${line}`;
}

function banner(stack: LocalStack, dataDir: string): string {
  const { keys } = stack;
  return [
    '',
    'SA-MUNIT is running locally.',
    `  web page      ${stack.edgeUrl}/`,
    `  API           ${stack.edgeUrl}/v1/translations   (reference: ${stack.edgeUrl}/docs)`,
    `  function      ${stack.functionUrl}   (model ${stack.model.name} ${stack.model.version}, from ${stack.modelSource})`,
    `  object store  ${stack.storeEndpoint}   (S3 protocol, access key S3RVER / S3RVER)`,
    `  secret key    ${keys.secretKey}`,
    `  page key      ${keys.publishableKey}   (publishable; origins ${keys.publishableOrigins.join(', ')})`,
    `  keys file     ${resolve(dataDir, DEV_KEYS_FILE_NAME)}${keys.reused ? ' (reused)' : ' (new)'}`,
    '',
    'Try it:',
    `  curl -sS -X POST '${stack.edgeUrl}/v1/translations?direction=a2b&seed=7' \\`,
    `    -H 'Authorization: Bearer ${keys.secretKey}' -H 'Content-Type: image/png' \\`,
    '    --data-binary @samples/circle.png -o square.png',
    `  npx sa-munit translate samples/circle.png -o square.png --direction a2b --n 4`,
    '',
    'Ctrl-C stops everything.',
    '',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  let options: ReturnType<typeof parseOptions>;
  try {
    options = parseOptions(argv);
  } catch (error) {
    process.stderr.write(`start: ${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const say = (message: string) => process.stdout.write(`[stack] ${message}\n`);

  // Signals are handled from the first moment: a Ctrl-C during start-up stops what has started.
  const startup = new AbortController();
  let stack: LocalStack | undefined;
  let resolveStopped: (code: number) => void = () => {};
  const stopped = new Promise<number>((done) => (resolveStopped = done));
  let firstSignalAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    // Ctrl-C reaches this process twice at once: from the terminal, and forwarded by `npm start`.
    if (firstSignalAt !== undefined && Date.now() - firstSignalAt < DUPLICATE_SIGNAL_MS) return;
    if (firstSignalAt !== undefined) {
      say('second signal: killing every process now');
      process.exit(EXIT_CRASH); // the 'exit' handler in stack.ts kills the process groups
    }
    firstSignalAt = Date.now();
    say(`${signal}: stopping the edge, the function (drains in-flight requests) and the store…`);
    if (stack === undefined) startup.abort();
    else
      void stack.stop().then(() => {
        say('everything stopped');
        resolveStopped(0);
      });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal); // the terminal went away
  // Nor may a closed terminal (EPIPE on our output) crash the stack halfway through stopping.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});

  try {
    stack = await startLocalStack({
      ...options,
      signal: startup.signal,
      onStatus: say,
      onProcessLine: options.quiet ? undefined : (name, line) => process.stdout.write(`${readableLine(name, line)}\n`),
    });
  } catch (error) {
    if (startup.signal.aborted) return 0;
    process.stderr.write(`start: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_CRASH;
  }
  process.stdout.write(banner(stack, options.dataDir));

  const running = stack;
  const crashed = running.crashed.then(async (crash) => {
    process.stderr.write(
      `start: the ${crash.name} stopped unexpectedly (${crash.signal ?? `exit code ${crash.code}`}); its last lines:\n` +
        `${crash.lastLines.map((line) => `  ${line}`).join('\n')}\nstopping the rest.\n`,
    );
    await running.stop();
    return EXIT_CRASH;
  });
  return Promise.race([stopped, crashed]);
}

// Exit explicitly: a keep-alive socket left by the SDK must not hold a stopped stack open.
process.exit(await main(process.argv.slice(2)));
