/**
 * The SDK's public input types. Field names are the server's (`POST /api/links`, `/api/annotations`,
 * `/api/notifications`), camelCase as in PRODUCT.md.
 */
import type { IntersebdError } from "./errors.ts";

/**
 * A JSON object, as accepted for `metadata`.
 *
 * @example
 * ```ts
 * const metadata: JsonObject = { title: "Quarterly report", step: 2 };
 * ```
 */
export type JsonObject = { [key: string]: unknown };

/**
 * Options of `new Intersebd({...})`. Every field is optional; `baseURL`, `apiKey` and `enabled` fall back to
 * `INTERSEBD_URL`, `INTERSEBD_API_KEY` and `INTERSEBD_ENABLED`.
 *
 * @example
 * ```ts
 * const options: IntersebdOptions = { baseURL: "http://127.0.0.1:8787", flushIntervalMs: 500 };
 * const sdk = new Intersebd(options);
 * ```
 */
export interface IntersebdOptions {
  /** The intersebd server, without `/api` or `/v1`. Default `INTERSEBD_URL`, else `http://127.0.0.1:8787`. */
  baseURL?: string;
  /** Sent as `x-intersebd-key` when set. Default `INTERSEBD_API_KEY`. */
  apiKey?: string;
  /** When false, every method returns at once and does no work. Default: `INTERSEBD_ENABLED` unless "0"/"false". */
  enabled?: boolean;
  /** Receives every failure (invalid input, rejected or undeliverable events, drops). Default: `console.warn`. */
  onError?: (error: IntersebdError) => void;
  /** Longest time an event waits in the queue before a flush starts, in ms. Default 1000. */
  flushIntervalMs?: number;
  /** Most events in one request; a full batch is sent at once without waiting. Default 250, at most 10,000. */
  maxBatchSize?: number;
  /** Most events held in memory; beyond it the oldest are dropped and counted. Default 10,000. */
  maxQueueSize?: number;
  /** Retries of one batch on network errors, 5xx, 408 and 429, with exponential backoff and jitter. Default 8. */
  maxRetries?: number;
  /** How often the definitions of experiments `variant()` was asked about are fetched again, in ms. Default 30,000. */
  experimentsRefreshMs?: number;
  /** The `fetch` to send with (a proxy agent, a test double). Default `globalThis.fetch`, looked up per request. */
  fetch?: typeof globalThis.fetch;
}

/**
 * An edge in the tag graph: `downstreamTag` now leads back to every call that `upstreamTag` leads back to.
 *
 * @example
 * ```ts
 * const input: LinkInput = { upstreamTag: completion.id, downstreamTag: reply.id, metadata: { step: "save" } };
 * intersebd.link(input);
 * ```
 */
export interface LinkInput {
  upstreamTag: string;
  downstreamTag: string;
  metadata?: JsonObject;
}

/**
 * The assistant message an answer should have been: the message, or just its text.
 *
 * @example
 * ```ts
 * intersebd.annotate({ annotationKey: r.id, numericReward: 0, correction: "Quarterly report, Q3 2025" });
 * ```
 */
export type Correction =
  | string
  | { role?: "assistant"; content?: string | null; tool_calls?: unknown[]; [key: string]: unknown };

/**
 * Who judged: program code, a human annotator, the end user, or an LLM judge.
 *
 * @example
 * ```ts
 * const source: AnnotationSource = "user";
 * intersebd.annotate({ annotationKey: reply.id, numericReward: 1, source });
 * ```
 */
export type AnnotationSource = "code" | "human" | "user" | "judge";

/**
 * A judgement on a tag (a completion id, a call id, or any id of yours linked to them).
 *
 * @example
 * ```ts
 * const input: AnnotateInput = { annotationKey: reply.id, numericReward: 1, data: { clicked: true } };
 * intersebd.annotate(input);
 * ```
 */
export interface AnnotateInput {
  /** Client id: a retry with the same id is stored once. Generated when absent (a random UUID and a counter). */
  id?: string;
  /** The tag judged. */
  annotationKey: string;
  /** Default `reward` on the server. */
  name?: string;
  /** By convention thumbs up is 1 and thumbs down 0. Must be finite. */
  numericReward?: number | null;
  /** Any JSON value. */
  content?: unknown;
  /** Any JSON value. */
  data?: unknown;
  comment?: string | null;
  correction?: Correction | null;
  /** Default `code` on the server. */
  source?: AnnotationSource;
  annotatorId?: string | null;
}

/**
 * A request that a named person judge a call: a task in their inbox and a signed webhook.
 *
 * @example
 * ```ts
 * const input: NotifyInput = { completionId: r.id, sendNotificationTo: user.id, message: "Was this title good?" };
 * intersebd.notify(input);
 * ```
 */
export interface NotifyInput {
  /** Client id: a retry with the same id is stored once. Generated when absent. */
  id?: string;
  /** The call to judge: its completion id, its call id, or any tag of it. */
  completionId: string;
  /** Who should judge it (a user id, an email: whatever your webhook understands). */
  sendNotificationTo: string;
  message?: string | null;
  /** The name of a feedback form defined on the server. */
  rubric?: string | null;
  metadata?: JsonObject;
  /** How long the signed link stays valid, in seconds (server default when absent). */
  expiresInSeconds?: number;
}

/**
 * Counters since the instance was created. Every accepted event ends in exactly one of `sent`, `dropped` or
 * `failed`; until then it is `queued` (waiting or in flight).
 *
 * @example
 * ```ts
 * const { queued, sent, dropped, failed } = intersebd.stats();
 * ```
 */
export interface IntersebdStats {
  /** Events waiting in the queue or in a request not yet answered. */
  queued: number;
  /** Events the server accepted. */
  sent: number;
  /** Events dropped (the oldest first) because the queue was full. */
  dropped: number;
  /** Events refused (invalid input, a 4xx, after shutdown) or undeliverable after every retry. */
  failed: number;
}

/**
 * Options of `flush()` and `shutdown()`.
 *
 * @example
 * ```ts
 * await intersebd.shutdown({ timeoutMs: 5000 });
 * ```
 */
export interface FlushOptions {
  /** Give up waiting after this many ms (events still queued stay queued). Default: wait until done. */
  timeoutMs?: number;
}
