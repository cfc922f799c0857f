/**
 * `npx tsx bench/inference-pool-size.ts`: how to split a CPU between inference workers and
 * onnxruntime intra-op threads, measured through the inference pool itself (worker threads,
 * transfers and all). The numbers behind functions/inference/pool-size.ts.
 *
 * For each split it reports the latency of a run alone (one at a time) and the images per second
 * when two runs per worker are always in flight. All splits stay open side by side and are timed
 * in interleaved rounds, so drift in the machine's load hits each of them alike.
 *
 *   npx tsx bench/inference-pool-size.ts --model models/sa-munit-random --size 64 --batch 1
 *   npx tsx bench/inference-pool-size.ts --model /tmp/ref-export --size 256 --batch 1 --images 6
 */
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { translatorGraph } from '../contract/manifest.ts';
import { loadManifestFromDir } from '../contract/manifest-dir.ts';
import { stylesFromSeeds } from '../contract/seed-style.ts';
import { InferencePool, type Feeds } from '../functions/inference/inference-pool.ts';
import { textTable } from './text-table.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/sa-munit-random' },
    size: { type: 'string', default: '64' },
    batch: { type: 'string', default: '1' },
    images: { type: 'string', default: '24' }, // per throughput round
    rounds: { type: 'string', default: '3' },
  },
});
const modelDir = resolve(values.model);
const [size, batch, images, rounds] = [values.size, values.batch, values.images, values.rounds].map(Number) as [number, number, number, number];
const cores = availableParallelism();
/** Every split of the cores, plus the oversubscribed one (a worker per core, each using every core). */
const splits: [number, number][] = [];
for (let workers = 1; workers <= cores; workers++) if (cores % workers === 0) splits.push([workers, cores / workers]);
splits.push([cores, cores]);

const manifest = await loadManifestFromDir(modelDir);
const graph = translatorGraph(manifest, 'a2b').file;

function feeds(n: number): Feeds {
  const image = new Float32Array(n * 3 * size * size).map((_, i) => Math.sin(i / 97));
  const style = stylesFromSeeds(Array.from({ length: n }, (_, i) => i + 1), manifest.style_dim);
  return { image: { data: image, dims: [n, 3, size, size] }, style: { data: style, dims: [n, manifest.style_dim] } };
}

const pools: InferencePool[] = [];
for (const [workers, threads] of splits) {
  const pool = await InferencePool.start({
    graphs: new Map([[graph, join(modelDir, graph)]]),
    workers,
    intraOpThreads: threads,
    provider: 'cpu',
    warmup: () => feeds(batch),
    logger: pino({ level: 'warn' }),
  });
  // The first runs at a new shape grow onnxruntime's memory arena and are several times slower.
  for (let i = 0; i < 2; i++) await Promise.all(Array.from({ length: workers }, () => pool.run(graph, feeds(batch))));
  pools.push(pool);
}

const aloneMs = splits.map(() => [] as number[]);
const perSecond = splits.map(() => [] as number[]);
for (let round = 0; round < rounds; round++) {
  for (const [i, [workers]] of splits.entries()) {
    const pool = pools[i] as InferencePool;
    for (let k = 0; k < 3; k++) {
      const input = feeds(batch);
      const started = performance.now();
      await pool.run(graph, input);
      aloneMs[i]?.push(performance.now() - started);
    }
    const runs = Math.ceil(images / batch);
    const inputs = Array.from({ length: runs }, () => feeds(batch));
    const started = performance.now();
    await Promise.all(
      Array.from({ length: workers * 2 }, async () => {
        for (let input = inputs.pop(); input !== undefined; input = inputs.pop()) await pool.run(graph, input);
      }),
    );
    perSecond[i]?.push((runs * batch) / ((performance.now() - started) / 1000));
  }
}
await Promise.all(pools.map((pool) => pool.close()));

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
console.log(
  textTable(
    ['workers', 'threads each', 'alone ms', 'saturated img/s'],
    splits.map(([workers, threads], i) => [workers, threads, median(aloneMs[i] ?? []).toFixed(0), median(perSecond[i] ?? []).toFixed(2)]),
  ),
);
console.log(`${manifest.name} ${size}x${size}, batch ${batch}, ${cores} cores; medians of ${rounds} interleaved rounds`);
