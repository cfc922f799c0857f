/**
 * The function's entry point: configuration → model host → HTTP server, and the signals.
 *
 * Ready only after a model version is verified and warmed (GET /v2/health/ready). SIGHUP reloads
 * the configured model source. SIGTERM/SIGINT: stop accepting (503 while draining so balancers
 * move away), finish in-flight work, close the workers, exit 0; a second signal exits at once.
 */
import { serve, type ServerType } from '@hono/node-server';
import { ConfigError, loadConfig, type FunctionConfig } from './config.ts';
import { createApp } from './http/app.ts';
import { createLogger } from './logger.ts';
import { ServiceMetrics } from './metrics.ts';
import { ModelHost } from './serving/model-host.ts';

const RETRY_LOAD_MS = [1_000, 2_000, 5_000, 10_000, 30_000];

function readConfig(): FunctionConfig {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

const config = readConfig();
const logger = createLogger(config.logLevel);
const metrics = new ServiceMetrics();
const host = new ModelHost({ config, logger, metrics });
const shutdown = { draining: false };
const app = createApp({ config, logger, metrics, host, shutdown });

const server: ServerType = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, (info) => {
  logger.info({ host: info.address, port: info.port, source: config.model.source }, 'listening');
});

/** First load; while the store is unreachable and nothing is cached, keep trying (not ready). */
async function loadInitialModel(attempt = 0): Promise<void> {
  try {
    await host.load();
  } catch {
    if (shutdown.draining) return;
    const delay = RETRY_LOAD_MS[Math.min(attempt, RETRY_LOAD_MS.length - 1)] ?? 30_000;
    logger.warn({ retryInMs: delay }, 'no model loaded yet; retrying');
    setTimeout(() => void loadInitialModel(attempt + 1), delay).unref();
  }
}
void loadInitialModel();

process.on('SIGHUP', () => {
  logger.info('SIGHUP: reloading the model source');
  host.load().catch(() => undefined); // refusal is logged by the host; the old version stays
});

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) {
    logger.warn({ signal }, 'second signal: exiting now');
    process.exit(1);
  }
  stopping = true;
  shutdown.draining = true;
  logger.info({ signal }, 'draining: finishing in-flight requests');
  const forceExit = setTimeout(() => {
    logger.error({ graceMs: config.shutdownGraceMs }, 'drain took too long: exiting');
    process.exit(1);
  }, config.shutdownGraceMs);
  forceExit.unref();
  await new Promise<void>((done) => server.close(() => done()));
  await host.close();
  logger.info('stopped');
  logger.flush();
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
