/**
 * Starts a worker thread whose entry is a sibling module of the caller, whether the service runs
 * from TypeScript sources under tsx or from compiled JavaScript.
 *
 * Under tsx on Node 20 the obvious `new Worker(url, { execArgv: ['--import', 'tsx'] })` fails with
 * "Unknown file extension .ts": Node 20 does not apply module hooks given in a worker's execArgv
 * (nodejs/node#47747, fixed in 22.2), and tsx's own flags, inherited from the parent, do not reach
 * the worker either. So a .ts entry is started by a two-line evaluated bootstrap that registers
 * tsx's loader inside the worker, then imports the entry. A compiled .js entry (the caller module
 * is .js, so its sibling is too) is started directly, with no tsx needed at run time.
 */
import { Worker } from 'node:worker_threads';

/**
 * `entry` is the worker module's URL relative to the caller's (e.g.
 * `new URL('./inference-worker.ts', import.meta.url)`); its extension is switched to the caller's
 * own so the same line works compiled.
 */
export function launchWorker(entry: URL, callerUrl: string, workerData: unknown): Worker {
  if (!callerUrl.endsWith('.ts')) {
    return new Worker(new URL(entry.href.replace(/\.ts$/, '.js')), { workerData });
  }
  // Resolved here, where node_modules is reachable; an evaluated worker resolves from the cwd.
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap =
    `import(${JSON.stringify(tsx)})` +
    `.then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}
