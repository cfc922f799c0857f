/** HTTP headers that carry the service's contracts between client, edge and function. */

/** Request id: taken from the caller when present, else made up; echoed on every response. */
export const REQUEST_ID_HEADER = 'x-request-id';
/**
 * Remaining time budget of a request in milliseconds (relative, so clocks need not agree).
 * The edge sets it from its overall deadline; the function drops work that cannot finish in time.
 */
export const TIMEOUT_HEADER = 'x-request-timeout-ms';
/** Seed of the (first) output's style. */
export const SEED_HEADER = 'x-seed';
/** Name and version of the model that produced a result. */
export const MODEL_NAME_HEADER = 'x-model-name';
export const MODEL_VERSION_HEADER = 'x-model-version';

/**
 * How urgent a translation is: `interactive` (the default: someone is waiting) or `batch` (the
 * batch consumer's items). The function serves interactive requests first and lets batch work
 * fill at most part of its queue, so a burst of batch items cannot starve the synchronous API.
 */
export const PRIORITY_HEADER = 'x-request-priority';
export const PRIORITIES = ['interactive', 'batch'] as const;
export type Priority = (typeof PRIORITIES)[number];
