/**
 * Why an attempt at an item ended without a result, as the worker reads it: a `TransientError` gives the
 * attempt back (not the item's fault), a `PermanentError` fails the item at once, anything else is retried with
 * back-off up to the attempts allowed.
 */

/** The proxy could not be reached (this server is stopping, or misconfigured): retry later, not the item's fault. */
export class TransientError extends Error {
  override name = "TransientError";
}

/** Retrying cannot help (the baseline call is gone, the candidate rejects the request): the item fails now. */
export class PermanentError extends Error {
  override name = "PermanentError";
}
