/**
 * The one error the model registry throws: a model version that could not be loaded, with a
 * `reason` written for the ready endpoint and the logs (it names the store, the file and what was
 * wrong, never a stack).
 */
export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
  readonly reason: string;

  constructor(reason: string, options: { cause?: unknown } = {}) {
    super(reason, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
  }
}
