/**
 * PyTorch ⇄ onnxruntime-node parity: every fixture case of every export folder, run in the same
 * session settings the service uses, must match PyTorch's output within the fixture tolerance.
 *
 * Export folders: each folder under models/ with a manifest.json, plus those in PARITY_EXPORT_DIRS
 * (colon separated; model-export's tests point it at fresh exports).
 */
import { join, resolve } from 'node:path';

import { Tensor, type InferenceSession } from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { loadManifestFromDir } from '../contract/manifest-dir.ts';
import { openGraphSession } from '../functions/lib/onnx-session.ts';
import { findExportDirs, maxAbsDiff, readFixtureIndex } from './parity-fixtures.ts';

const MODELS_DIR = resolve(import.meta.dirname, '../models');
const CONTRACT_TOLERANCE = 1e-4;
const FIXTURE_BATCHES = [1, 3];

const extraDirs = (process.env['PARITY_EXPORT_DIRS'] ?? '').split(':').filter((dir) => dir !== '');
const modelExports = await findExportDirs(MODELS_DIR, extraDirs);
const committedExports = modelExports.filter((dir) => dir.startsWith(MODELS_DIR));

it('models/ holds at least one export (parity must not pass by finding nothing)', () => {
  expect(committedExports.length).toBeGreaterThan(0);
});

describe.each(modelExports)('export %s', (exportDir) => {
  const sessions = new Map<string, Promise<InferenceSession>>();
  const session = (file: string) => {
    let pending = sessions.get(file);
    if (pending === undefined) {
      pending = openGraphSession(join(exportDir, file));
      sessions.set(file, pending);
    }
    return pending;
  };
  afterAll(async () => {
    await Promise.all([...sessions.values()].map(async (s) => (await s).release()));
  });

  const fixtures = readFixtureIndex(exportDir);
  const manifest = loadManifestFromDir(exportDir);

  it('has a valid manifest whose files match their checksums', async () => {
    await expect(manifest).resolves.toBeDefined();
  });

  it(`holds fixtures at batch ${FIXTURE_BATCHES.join(' and ')} for every graph, at the contract tolerance`, async () => {
    const { tolerance, cases } = await fixtures;
    expect(tolerance).toBeLessThanOrEqual(CONTRACT_TOLERANCE);
    for (const graph of (await manifest).graphs) {
      const batches = cases.filter((c) => c.graph === graph.file).map((c) => c.batch);
      expect(batches.sort(), graph.file).toEqual(FIXTURE_BATCHES);
    }
  });

  it('matches PyTorch on every fixture case', async () => {
    const { tolerance, cases } = await fixtures;
    expect(cases.length).toBeGreaterThan(0);
    const failures: string[] = [];
    for (const fixture of cases) {
      const feeds = Object.fromEntries(
        Object.entries(fixture.inputs).map(([name, t]) => [name, new Tensor('float32', t.data, t.shape)]),
      );
      const results = await (await session(fixture.graph)).run(feeds);
      for (const [name, expected] of Object.entries(fixture.outputs)) {
        const actual = results[name];
        const label = `${fixture.graph} batch ${fixture.batch} output ${name}`;
        if (actual === undefined) {
          failures.push(`${label}: missing`);
          continue;
        }
        expect(actual.dims, label).toEqual(expected.shape);
        const error = maxAbsDiff(actual.data as Float32Array, expected.data);
        if (!(error <= tolerance)) failures.push(`${label}: max abs error ${error} > ${tolerance}`);
      }
    }
    expect(failures).toEqual([]);
  });
});
