/** Structured JSON logs (pino) to stdout; the level comes from the config. */
import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'sa-munit-function' }, timestamp: pino.stdTimeFunctions.isoTime });
}
