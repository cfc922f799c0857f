/**
 * The one error the publishing command throws on purpose. Its kind decides the exit code, so a
 * script can tell "fix your input" from "the store is down" from "refused, by design".
 */
export type PublishErrorKind =
  /** Bad arguments, a missing or invalid export folder, a file that does not match its manifest. */
  | 'input'
  /** The store could not be reached, refused a request, or returned other bytes than were sent. */
  | 'store'
  /**
   * Refused by the rules: a published version with other content (versions are immutable), a
   * pointer moved by someone else meanwhile, a version to point at that is missing or broken.
   */
  | 'refused';

export const EXIT_CODES: Readonly<Record<PublishErrorKind | 'ok' | 'bug', number>> = {
  ok: 0,
  bug: 1,
  input: 2,
  store: 3,
  refused: 4,
};

export class PublishError extends Error {
  override readonly name = 'PublishError';
  readonly kind: PublishErrorKind;

  constructor(kind: PublishErrorKind, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
  }
}
