/**
 * A mistake the user can fix on their side: a bad option, a file that cannot be read or written,
 * no key. The message names the option or file; the CLI exits 2 without contacting the API (or,
 * for an output file, without leaving anything behind).
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
