/**
 * `npm run translate` as a user runs it: a real process on real files, checked by exit code,
 * output files and the one-line message on stderr.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_DIR } from '../functions/cli/translate-args.ts';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'functions/cli/translate.ts');
// The CLI's default model (the trained demo): the first case runs without --model.
const MODEL_DIR = DEFAULT_MODEL_DIR;
const manifest = JSON.parse(await readFile(join(MODEL_DIR, 'manifest.json'), 'utf8')) as {
  image_size: number;
  version: string;
  name: string;
};
const SIZE = manifest.image_size;

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runCli(args: readonly string[]): Promise<RunResult> {
  return new Promise((done) => {
    execFile(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      done({ code, stdout, stderr });
    });
  });
}

let work: string;
let input: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'translate-cli-'));
  input = join(work, 'input.png');
  const noise = { type: 'gaussian', mean: 128, sigma: 50 } as const;
  await sharp({ create: { width: 120, height: 90, channels: 3, background: 'black', noise } }).png().toFile(input);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function outputsIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.startsWith('out')).sort();
}

describe('translate CLI: success', () => {
  it('writes one PNG at the model size and prints the seed and the model version', async () => {
    const out = join(work, 'single', 'out.png');
    await mkdir(join(work, 'single'));
    const result = await runCli([input, '-o', out, '--seed', '7']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`${manifest.name} ${manifest.version}`);
    expect(result.stdout).toContain('seed 7');
    const meta = await sharp(out).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', SIZE, SIZE]);
    expect(await readdir(join(work, 'single'))).toEqual(['out.png']); // no temp files left
  });

  it('gives the same bytes for the same seed and different bytes for another', async () => {
    const paths = ['same-1.png', 'same-2.png', 'other.png'].map((name) => join(work, name));
    const seeds = ['11', '11', '12'];
    for (const [i, path] of paths.entries()) {
      expect((await runCli([input, '-o', path, '--seed', seeds[i] ?? ''])).code).toBe(0);
    }
    const [a, b, c] = await Promise.all(paths.map((path) => readFile(path)));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('with --n writes out-1..n and a grid of the input then the outputs, in the --format asked', async () => {
    const dir = await mkdtemp(join(work, 'grid-'));
    const result = await runCli([input, '-o', join(dir, 'out.webp'), '--seed', '100', '--n', '3', '--format', 'webp']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/seed 100 -> .*out-1\.webp/);
    expect(result.stdout).toMatch(/seed 102 -> .*out-3\.webp/);
    expect(await outputsIn(dir)).toEqual(['out-1.webp', 'out-2.webp', 'out-3.webp', 'out.webp']);
    const grid = await sharp(join(dir, 'out.webp')).metadata();
    expect([grid.format, grid.width, grid.height]).toEqual(['webp', SIZE * 4, SIZE]);
  });

  it('output i of --n matches a single run with seed + i − 1', async () => {
    const dir = await mkdtemp(join(work, 'seeds-'));
    expect((await runCli([input, '-o', join(dir, 'out.png'), '--seed', '40', '--n', '2'])).code).toBe(0);
    expect((await runCli([input, '-o', join(dir, 'single.png'), '--seed', '41'])).code).toBe(0);
    const [fromBatch, single] = await Promise.all(
      ['out-2.png', 'single.png'].map(async (name) => sharp(join(dir, name)).raw().toBuffer()),
    );
    // Batched and single inference may differ in the last float bits; after 8-bit rounding at
    // most by one level.
    const diffs = Array.from(fromBatch ?? [], (v, i) => Math.abs(v - (single?.[i] ?? 0)));
    expect(Math.max(...diffs)).toBeLessThanOrEqual(1);
  });

  it('takes the style from --style-image and writes JPEG by extension', async () => {
    const out = join(work, 'styled.jpg');
    const result = await runCli([input, '-o', out, '--style-image', input, '--size', 'contain', '--direction', 'b2a']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('style of');
    expect((await sharp(out).metadata()).format).toBe('jpeg');
  });

  it('without --seed picks one and prints it', async () => {
    const result = await runCli([input, '-o', join(work, 'random.png')]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/random seed \d+/);
  });
});

describe('translate CLI: bad input exits 2 with one line naming the problem and writes nothing', () => {
  let badModels: string;
  beforeAll(async () => {
    badModels = await mkdtemp(join(work, 'models-'));
    const copy = async (name: string) => {
      const dir = join(badModels, name);
      await cp(MODEL_DIR, dir, { recursive: true });
      return dir;
    };
    const invalid = await copy('invalid');
    const json = JSON.parse(await readFile(join(invalid, 'manifest.json'), 'utf8')) as { graphs: { sha256: string }[] };
    (json.graphs[1] as { sha256: string }).sha256 = 'not-a-hash';
    await writeFile(join(invalid, 'manifest.json'), JSON.stringify(json));
    const tampered = await copy('tampered');
    const graph = await readFile(join(tampered, 'translator_a2b.onnx'));
    graph.writeUInt8(graph.readUInt8(graph.length - 5) ^ 0xff, graph.length - 5);
    await writeFile(join(tampered, 'translator_a2b.onnx'), graph);
    await writeFile(join(work, 'corrupt.png'), Buffer.from('\x89PNG\r\n\x1a\n garbage that is not a png'));
  });

  const cases: [string, () => string[], RegExp][] = [
    ['a missing input file', () => [join(work, 'nope.png')], /input .*nope\.png: cannot read: no such file/],
    ['a corrupt image', () => [join(work, 'corrupt.png')], /input .*corrupt\.png: (not a recognised image|cannot decode image)/],
    ['an unknown direction', () => [input, '--direction', 'cats-to-dogs'], /--direction: unknown direction "cats-to-dogs"/],
    ['a negative seed', () => [input, '--seed=-3'], /--seed: .*got "-3"/],
    ['a fractional seed', () => [input, '--seed', '1.5'], /--seed: seed must be an integer from 0 to 9007199254740991, got "1.5"/],
    ['a seed above 2^53 − 1', () => [input, '--seed', '9007199254740992'], /--seed: /],
    ['--n 0', () => [input, '--n', '0'], /--n: must be an integer from 1 to 8, got "0"/],
    ['--n 9', () => [input, '--n', '9'], /--n: must be an integer from 1 to 8, got "9"/],
    ['an unknown option', () => [input, '--colour', 'red'], /Unknown option '--colour'/],
    ['a bad --size', () => [input, '--size', 'stretch'], /--size: must be one of cover, contain, got "stretch"/],
    ['a missing style image', () => [input, '--style-image', join(work, 'gone.png')], /--style-image .*gone\.png: cannot read/],
    ['a model folder without manifest', () => [input, '--model', work], /--model: .*manifest\.json: cannot read: no such file/],
    ['an invalid manifest', () => [input, '--model', join(badModels, 'invalid')], /--model: .*invalid\/manifest\.json: manifest\.graphs\[1\]\.sha256: must match pattern/],
    ['a graph that fails its checksum', () => [input, '--model', join(badModels, 'tampered')], /--model: .*tampered\/translator_a2b\.onnx: manifest\.graphs\[0\]\.sha256: manifest says/],
  ];

  it.each(cases)('%s', async (_label, args, message) => {
    const dir = await mkdtemp(join(work, 'bad-'));
    const result = await runCli([...args(), '-o', join(dir, 'out.png')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1); // one line, no stack trace
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(await readdir(dir)).toEqual([]);
  });

  it('names -o when the output folder does not exist, and the format when it cannot tell it', async () => {
    const missing = await runCli([input, '-o', join(work, 'no-such-dir', 'out.png')]);
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringMatching(/-o\/--output: folder .*no-such-dir" does not exist/)]);
    const unknown = await runCli([input, '-o', join(work, 'out.gif')]);
    expect([unknown.code, unknown.stderr]).toEqual([2, expect.stringMatching(/-o\/--output: cannot tell the format/)]);
  });

  it('names the missing input and -o', async () => {
    const none = await runCli([]);
    expect([none.code, none.stderr.trim()]).toEqual([2, 'translate: <input image>: missing']);
    const noOutput = await runCli([input]);
    expect([noOutput.code, noOutput.stderr.trim()]).toEqual([2, 'translate: -o/--output: missing']);
  });

  it('--help exits 0 with the usage', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: npm run translate');
  });
});
