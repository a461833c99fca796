/** The one error type the SDK hands to `onError`. The SDK never throws it into the host application. */

/**
 * Which kind of event an error concerns: it names the endpoint the events were bound for (`experiment`: fetching
 * an experiment's definition for `variant()`).
 *
 * @example
 * ```ts
 * const sdk = new Intersebd({ onError: (e) => e.kind === "call" && console.warn("a captured call was lost") });
 * ```
 */
export type EventKind = "link" | "annotation" | "notification" | "call" | "experiment";

/**
 * What went wrong, as a stable string:
 * - `invalid_input`: the SDK refused an event before queueing it (a missing tag, a non-finite reward, a value
 *   `JSON.stringify` cannot write);
 * - `queue_full`: the queue reached `maxQueueSize` and dropped its oldest events (`count` says how many);
 * - `shut_down`: an event arrived after `shutdown()`;
 * - `network_error`: the server could not be reached, after every retry;
 * - anything else: the `error.code` of the server's 4xx/5xx answer (`invalid_request`, `unauthorized`, ...),
 *   or `http_<status>` when the answer carried none.
 *
 * @example
 * ```ts
 * const sdk = new Intersebd({ onError: (e) => e.code === "queue_full" && metrics.increment("intersebd.dropped", e.count) });
 * ```
 */
export type IntersebdErrorCode =
  | "invalid_input"
  | "queue_full"
  | "shut_down"
  | "network_error"
  | (string & {});

/**
 * A failure to deliver events, given to the `onError` hook. `events` holds the events that were given up on
 * (parsed back from the queue), so a caller can log or persist them.
 *
 * @example
 * ```ts
 * import { Intersebd, type IntersebdError } from "intersebd";
 * const sdk = new Intersebd({
 *   onError: (err: IntersebdError) => console.warn(`${err.kind} x${err.count}: ${err.message} (${err.field})`),
 * });
 * ```
 */
export class IntersebdError extends Error {
  override name = "IntersebdError";
  /** See {@link IntersebdErrorCode}. */
  readonly code: IntersebdErrorCode;
  /** The HTTP status of the server's answer, when there was one. */
  readonly status: number | undefined;
  /** The offending field as the server or the SDK names it (`numericReward`, `[3].upstreamTag`). */
  readonly field: string | undefined;
  /** The kind of events concerned. */
  readonly kind: EventKind | undefined;
  /** How many events this error gave up on. */
  readonly count: number;
  /** The events given up on, when the SDK still had them (not for `queue_full`). */
  readonly events: unknown[];

  constructor(
    message: string,
    opts: {
      code: IntersebdErrorCode;
      status?: number;
      field?: string;
      kind?: EventKind;
      count?: number;
      events?: unknown[];
      cause?: unknown;
    },
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = opts.code;
    this.status = opts.status;
    this.field = opts.field;
    this.kind = opts.kind;
    this.events = opts.events ?? [];
    this.count = opts.count ?? this.events.length;
  }
}
