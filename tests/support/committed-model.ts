/** The model folder a test function should serve: the embedded one when present, else any committed one (the tree may be mid-swap). */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { EMBEDDED_MODEL_DIR } from '../../functions/config.ts';

export async function committedModelDir(): Promise<string> {
  if (existsSync(`${EMBEDDED_MODEL_DIR}/manifest.json`)) return EMBEDDED_MODEL_DIR;
  const models = resolve(import.meta.dirname, '../../models');
  const found = (await readdir(models)).map((name) => `${models}/${name}`).find((dir) => existsSync(`${dir}/manifest.json`));
  if (found === undefined) throw new Error(`no model with a manifest.json under ${models}`);
  return found;
}
