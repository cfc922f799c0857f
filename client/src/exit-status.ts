/**
 * How a failure ends the process: one line on stderr and an exit code a script can act on
 * (retry on 3, fix the command on 2, read the API's code on 1).
 */
import { ApiResponseError, ApiUnreachableError } from './api-errors.ts';
import { UsageError } from './usage-error.ts';

export const EXIT_CODES = {
  ok: 0,
  /** The API answered with an error, or some batch items failed; or an unexpected failure of this program (the message says which). */
  apiError: 1,
  /** A usage or local file problem: nothing was sent, nothing written. */
  usage: 2,
  /** No answer from the API: refused, unresolvable, or not within --timeout. */
  unreachable: 3,
  /** Stopped by Ctrl-C (128 + SIGINT, as a shell reports a process it interrupted). */
  interrupted: 130,
} as const;

export function failureReport(error: unknown): { readonly exitCode: number; readonly message: string } {
  if (error instanceof UsageError) return { exitCode: EXIT_CODES.usage, message: error.message };
  if (error instanceof ApiResponseError) return { exitCode: EXIT_CODES.apiError, message: error.describe() };
  if (error instanceof ApiUnreachableError) return { exitCode: EXIT_CODES.unreachable, message: error.message };
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return { exitCode: EXIT_CODES.apiError, message: `internal error: ${message}` };
}
