/**
 * Builds the edge's browser code into edge/dist, wrangler's [assets] directory, with Vite:
 *
 * 1. the web page: index.html and its modules (hashed file names), plus public/ as it is (the
 *    samples and `_headers`, the static-asset header rules);
 * 2. the widget: /embed.js, a second build in library mode: one dependency-free ES module with a
 *    stable name, so third-party pages can link it.
 *
 * Run by wrangler's [build] before `wrangler dev` (twice at start: once to find the entry point,
 * once when its watcher is ready) and `wrangler deploy`, and by `npm run build:page`. Two choices
 * follow from that: the build skips itself when a hash of its inputs matches the last build's stamp
 * (`--force` rebuilds anyway), and it builds into a fresh folder, then renames files into dist one
 * by one, so a dev server already serving dist (or a second one starting at the same time, as
 * tests do) never sees a missing or half-written file.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { build, version as viteVersion, type InlineConfig } from 'vite';

const PAGE_DIR = import.meta.dirname;
const CONTRACT_DIR = resolve(PAGE_DIR, '../../contract');
export const DIST_DIR = resolve(PAGE_DIR, '../dist');
const STAMP_FILE = '.build-stamp';
const BUILD_TARGET = 'es2022'; // browsers with top-level await, class fields and BigInt

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name)).sort();
}

/** sha256 over every input's path and bytes, and Vite's version. */
async function inputsHash(): Promise<string> {
  const hash = createHash('sha256').update(`vite ${viteVersion}\n`);
  for (const file of [...(await filesUnder(PAGE_DIR)), ...(await filesUnder(CONTRACT_DIR))]) {
    hash.update(`${relative(PAGE_DIR, file)}\n`).update(await readFile(file));
  }
  return hash.digest('hex');
}

const shared = (outDir: string): InlineConfig => ({
  configFile: false,
  root: PAGE_DIR,
  logLevel: 'warn',
  build: { outDir, target: BUILD_TARGET, reportCompressedSize: false },
});

async function buildInto(outDir: string): Promise<void> {
  const base = shared(outDir);
  await build({ ...base, publicDir: resolve(PAGE_DIR, 'public'), build: { ...base.build, emptyOutDir: true } });
  await build({
    ...base,
    publicDir: false,
    build: {
      ...base.build,
      emptyOutDir: false,
      lib: { entry: resolve(PAGE_DIR, 'src/embed/embed.ts'), formats: ['es'], fileName: () => 'embed.js' },
      // Library mode keeps whitespace and annotations for bundlers downstream; this file goes
      // straight to browsers, so it is minified in full.
      rolldownOptions: { output: { minify: true, comments: false } },
    },
  });
}

/** Moves every built file into dist (rename: atomic per file), then drops files no longer built. */
async function publish(builtDir: string, stamp: string): Promise<void> {
  const built = new Set((await filesUnder(builtDir)).map((file) => relative(builtDir, file)));
  for (const file of built) {
    await mkdir(dirname(join(DIST_DIR, file)), { recursive: true });
    await rename(join(builtDir, file), join(DIST_DIR, file));
  }
  for (const file of await filesUnder(DIST_DIR)) {
    const name = relative(DIST_DIR, file);
    if (!built.has(name) && name !== STAMP_FILE) await rm(file, { force: true });
  }
  await writeFile(join(DIST_DIR, STAMP_FILE), `${stamp}\n`);
}

export async function buildPage(options: { force?: boolean } = {}): Promise<'built' | 'up to date'> {
  const stamp = await inputsHash();
  await mkdir(DIST_DIR, { recursive: true });
  const previous = await readFile(join(DIST_DIR, STAMP_FILE), 'utf8').catch(() => '');
  if (!options.force && previous.trim() === stamp) return 'up to date';
  // Beside dist, on the same file system, so the renames into dist cannot cross devices.
  const builtDir = resolve(PAGE_DIR, `../.page-build-${process.pid}-${Date.now()}`);
  try {
    await buildInto(builtDir);
    await publish(builtDir, stamp);
  } finally {
    await rm(builtDir, { recursive: true, force: true });
  }
  return 'built';
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const outcome = await buildPage({ force: process.argv.includes('--force') });
  process.stdout.write(`page and widget ${outcome}: ${relative(process.cwd(), DIST_DIR) || '.'}\n`);
}
