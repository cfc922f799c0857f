/**
 * `sa-munit translate <image> -o <out>`: one image through POST /v1/translations, the result(s)
 * written all or nothing. Everything local (options, input files, output folder, key) is checked
 * before the request, so a mistake costs neither a translation nor a rate-limit unit.
 */
import { mkdir } from 'node:fs/promises';
import { writeAllOrNothing } from '../../../functions/cli/write-all-or-nothing.ts';
import { ApiClient, type Translation } from '../api-client.ts';
import type { Command, CommandIo } from '../command.ts';
import { resolveConnection } from '../connection-config.ts';
import { readImageFile } from '../image-file.ts';
import { outputPaths, resolveOutputTarget } from '../output-target.ts';
import { UsageError } from '../usage-error.ts';
import { TRANSLATE_USAGE, parseTranslateOptions } from './translate-options.ts';

export const translateCommand: Command = {
  name: 'translate',
  summary: 'translate one image (sa-munit translate <image> -o <out> [--direction a2b] [--seed 7] [--n 4])',
  run: runTranslate,
};

async function runTranslate(argv: readonly string[], io: CommandIo): Promise<void> {
  const commandLine = parseTranslateOptions(argv);
  if (commandLine.kind === 'help') {
    io.out(TRANSLATE_USAGE);
    return;
  }
  const { options } = commandLine;
  const image = await readImageFile(options.image, '<image>');
  const styleImage = options.styleImage === undefined ? undefined : await readImageFile(options.styleImage, '--style-image');
  const target = await resolveOutputTarget(options.out, options.format);
  const connection = await resolveConnection(options.connection, io.cwd);

  const client = new ApiClient({
    ...connection,
    onRetry: ({ error, waitMs, retry, maxRetries }) =>
      io.err(`sa-munit translate: ${error.describe()}; retrying in ${(waitMs / 1000).toFixed(1)} s (${retry}/${maxRetries})`),
  });
  const translation = await client.translate({
    image,
    styleImage,
    params: { ...options.params, format: target.format },
  });

  const paths = outputPaths(
    target,
    translation.outputs.map((output) => output.seed),
    { imagePath: options.image, styleImagePath: options.styleImage },
  );
  try {
    if (target.kind === 'folder') await mkdir(target.dir, { recursive: true });
    await writeAllOrNothing(translation.outputs.map((output, i) => ({ path: paths[i]!, bytes: output.bytes })));
  } catch (error) {
    throw new UsageError(`-o ${options.out}: cannot write the result (${(error as Error).message})`);
  }
  translation.outputs.forEach((output, i) => io.out(describeOutput(paths[i]!, output.seed, options.styleImage, translation)));
}

function describeOutput(path: string, seed: number | undefined, styleImage: string | undefined, translation: Translation): string {
  const style = seed !== undefined ? `seed ${seed}` : styleImage !== undefined ? `style of ${styleImage}` : 'seed unknown';
  return `${path}  ${style}  cache ${translation.cache ?? '-'}  model ${translation.model.name} ${translation.model.version}`;
}
