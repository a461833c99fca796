/**
 * The `Intersebd` client: `link`, `annotate` and `notify` validate, serialise and queue an event, and return.
 * A background flush sends the queue in batches, one JSON array per endpoint, with retries. Nothing here may
 * throw into the host application or keep its process alive: every failure goes to `onError`, every timer
 * is unref'd unless someone awaits `flush()`.
 */

import { type MessagesClient, type WrapAnthropicOptions, wrapAnthropicClient } from "./anthropic.ts";
import type { CallSink } from "./capture.ts";
import { envEnabled, randomId, readEnv, refTimer, unrefTimer } from "./env.ts";
import { type EventKind, IntersebdError } from "./errors.ts";
import { type OpenAIClient, type WrapOpenAIOptions, wrapOpenAIClient } from "./openai.ts";
import type {
  AnnotateInput,
  FlushOptions,
  IntersebdOptions,
  IntersebdStats,
  LinkInput,
  NotifyInput,
} from "./types.ts";
import { type Assignment, Experiments, type VariantUnit } from "./variant.ts";

type Timer = ReturnType<typeof setTimeout>;

const DEFAULT_URL = "http://127.0.0.1:8787";
const KIND_NAMES: readonly EventKind[] = ["link", "annotation", "notification", "call"];
const PATHS = ["/api/links", "/api/annotations", "/api/notifications", "/api/calls"] as const;
const LINK = 0;
const ANNOTATION = 1;
const NOTIFICATION = 2;
const CALL = 3;

/** The server refuses batches over 10,000 items (`oneOrBatch`). */
const MAX_BATCH_SIZE = 10_000;
/** Characters of JSON per request, well under the server's default 20 MB body limit even for non-ASCII text. */
const MAX_BATCH_CHARS = 2_000_000;
/** The server's `MAX_TAG_LENGTH`. */
const MAX_TAG_LENGTH = 1000;
const REQUEST_TIMEOUT_MS = 30_000;
const RETRY_BASE_MS = 250;
const RETRY_CAP_MS = 30_000;
/** A `retry-after` longer than this is not honoured as is: the queue would grow for minutes. */
const RETRY_AFTER_CAP_MS = 60_000;
const SOURCES = new Set(["code", "human", "user", "judge"]);

const isTag = (v: unknown): v is string =>
  typeof v === "string" && v.length <= MAX_TAG_LENGTH && v.trim().length > 0;
const isObject = (v: unknown): boolean => typeof v === "object" && v !== null && !Array.isArray(v);
const isText = (v: unknown): boolean => typeof v === "string" && v.length > 0;

function positiveInt(value: number | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined || !Number.isFinite(value) || value < 1) return fallback;
  return Math.min(Math.floor(value), max);
}

function defaultOnError(err: IntersebdError): void {
  globalThis.console?.warn?.(`[intersebd] ${err.message}`);
}

/** Seconds or an HTTP date, in ms; undefined when absent or unreadable. */
function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - Date.now();
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, RETRY_AFTER_CAP_MS) : undefined;
}

/** Exponential backoff with jitter (half fixed, half random), or the server's `retry-after` when longer. */
function backoff(attempt: number, retryAfterMs: number | undefined): number {
  const exp = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** attempt);
  const jittered = exp / 2 + Math.random() * (exp / 2);
  return retryAfterMs === undefined ? jittered : Math.max(retryAfterMs, jittered);
}

/** The server's `{ error: { message, field, code } }`, or what can be said without it. */
async function errorOf(res: Response): Promise<{ message: string; field?: string; code: string }> {
  let text = "";
  try {
    text = await res.text();
    const body = JSON.parse(text) as { error?: { message?: unknown; field?: unknown; code?: unknown } };
    const e = body.error;
    if (e && typeof e.message === "string") {
      return {
        message: e.message,
        field: typeof e.field === "string" ? e.field : undefined,
        code: typeof e.code === "string" ? e.code : `http_${res.status}`,
      };
    }
  } catch {}
  return {
    message: `HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ""}`,
    code: `http_${res.status}`,
  };
}

/** `fetch failed` says little; Node puts the reason (`ECONNREFUSED`...) in `cause`. */
function describeNetworkError(err: unknown): string {
  const e = err as { message?: unknown; cause?: { code?: unknown; message?: unknown } } | undefined;
  const cause = e?.cause?.code ?? e?.cause?.message;
  return `${String(e?.message ?? err)}${cause ? ` (${String(cause)})` : ""}`;
}

function timeoutSignal(ms: number): AbortSignal | undefined {
  try {
    return AbortSignal.timeout(ms);
  } catch {
    return undefined;
  }
}

function parseEvents(items: string[]): unknown[] {
  return items.map((s) => {
    try {
      return JSON.parse(s);
    } catch {
      return s;
    }
  });
}

/**
 * An intersebd client. Most code uses the default instance `intersebd`; create your own for another server,
 * another key, or tests.
 *
 * @example
 * ```ts
 * import { Intersebd } from "intersebd";
 * const sdk = new Intersebd({ baseURL: "http://127.0.0.1:8787", apiKey: process.env.INTERSEBD_API_KEY });
 * sdk.link({ upstreamTag: completion.id, downstreamTag: reply.id });
 * sdk.annotate({ annotationKey: reply.id, numericReward: 1 });
 * await sdk.shutdown();
 * ```
 */
export class Intersebd {
  #enabled: boolean;
  readonly #baseURLOption: string | undefined;
  readonly #apiKeyOption: string | undefined;
  #baseURL: string | undefined;
  #headers: Record<string, string> | undefined;
  readonly #onError: (error: IntersebdError) => void;
  readonly #flushIntervalMs: number;
  readonly #maxBatchSize: number;
  readonly #maxQueueSize: number;
  readonly #maxRetries: number;
  readonly #fetch: typeof globalThis.fetch | undefined;

  // The queue: two parallel arrays read from `#head`, so queueing allocates nothing but the JSON string.
  #kinds: number[] = [];
  #items: string[] = [];
  #head = 0;
  #inflight = 0;
  #sent = 0;
  #dropped = 0;
  #failed = 0;
  #dropsReported = 0;
  #idPrefix: string | undefined;
  #idCounter = 0;

  #timer: Timer | undefined;
  #kicked = false;
  #draining: Promise<void> | undefined;
  #closed = false;
  /** How many callers await `flush()`: while any do, backoff timers keep the process alive. */
  #awaited = 0;
  readonly #sleeps = new Set<Timer>();
  readonly #sink: CallSink;
  /**
   * The experiments `variant()` assigns from: `ready(name)` waits for a definition's first fetch (at start-up),
   * `refresh(name?)` fetches now. Definitions are refreshed every `experimentsRefreshMs` in the background.
   *
   * @example
   * ```ts
   * await intersebd.experiments.ready("titles", { timeoutMs: 2000 });
   * ```
   */
  readonly experiments: Experiments;

  /**
   * @param options see {@link IntersebdOptions}; `baseURL`, `apiKey` and `enabled` default to the
   *   `INTERSEBD_URL`, `INTERSEBD_API_KEY` and `INTERSEBD_ENABLED` environment variables.
   * @example
   * ```ts
   * const sdk = new Intersebd({ enabled: process.env.NODE_ENV !== "test", onError: (e) => log.warn(e) });
   * ```
   */
  constructor(options: IntersebdOptions = {}) {
    this.#enabled = options.enabled ?? envEnabled(readEnv("INTERSEBD_ENABLED"));
    this.#baseURLOption = options.baseURL;
    this.#apiKeyOption = options.apiKey;
    this.#onError = options.onError ?? defaultOnError;
    // Timers take at most a signed 32-bit delay; beyond it they fire at once.
    this.#flushIntervalMs = positiveInt(options.flushIntervalMs, 1000, 2_147_483_647);
    this.#maxBatchSize = positiveInt(options.maxBatchSize, 250, MAX_BATCH_SIZE);
    this.#maxQueueSize = positiveInt(options.maxQueueSize, 10_000);
    this.#maxRetries =
      options.maxRetries !== undefined && options.maxRetries >= 0 ? Math.floor(options.maxRetries) : 8;
    this.#fetch = options.fetch;
    const self = this;
    this.#sink = {
      get enabled() {
        return self.#enabled;
      },
      record(call) {
        self.#enqueueCall(call);
      },
      report(error) {
        self.#report(error);
      },
    };
    this.experiments = new Experiments(
      {
        get enabled() {
          return self.#enabled;
        },
        url: (path) => self.#base() + path,
        headers: () => self.#requestHeaders(),
        fetch: () => self.#fetch ?? globalThis.fetch,
        report: (error) => self.#report(error),
      },
      positiveInt(options.experimentsRefreshMs, 30_000, 2_147_483_647),
    );
  }

  /**
   * When false, `link`, `annotate`, `notify` and wrapped OpenAI calls return at once and do no work. Events
   * already queued are still sent by `flush()`.
   *
   * @example
   * ```ts
   * intersebd.enabled = process.env.IS_TEST_ENV !== "1";
   * ```
   */
  get enabled(): boolean {
    return this.#enabled;
  }
  set enabled(value: boolean) {
    this.#enabled = Boolean(value);
  }

  /**
   * Adds an edge `upstreamTag -> downstreamTag` to the tag graph: annotations on the downstream tag (or on
   * anything linked below it) then resolve to every call upstream of it. Returns at once; never throws.
   *
   * @example
   * ```ts
   * const r = await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
   * const reply = await saveReply(r);
   * intersebd.link({ upstreamTag: r.id, downstreamTag: reply.id, metadata: { kind: "reply" } });
   * ```
   */
  link(input: LinkInput): void {
    if (!this.#enabled) return;
    try {
      const bad = !isObject(input)
        ? "input"
        : !isTag(input.upstreamTag)
          ? "upstreamTag"
          : !isTag(input.downstreamTag)
            ? "downstreamTag"
            : input.metadata !== undefined && !isObject(input.metadata)
              ? "metadata"
              : undefined;
      if (bad !== undefined) {
        this.#invalid(LINK, bad, input);
        return;
      }
      this.#push(LINK, JSON.stringify(input));
    } catch (err) {
      this.#invalid(LINK, "input", input, err);
    }
  }

  /**
   * Records a judgement on a tag: a completion id, a call id, or any id of yours linked to them. A client
   * `id` is generated when absent, so retries are stored once. Returns at once; never throws.
   *
   * @example
   * ```ts
   * intersebd.annotate({ annotationKey: reply.id, numericReward: 1, data: { clicked: true }, source: "user" });
   * ```
   */
  annotate(input: AnnotateInput): void {
    if (!this.#enabled) return;
    try {
      const bad = !isObject(input)
        ? "input"
        : !isTag(input.annotationKey)
          ? "annotationKey"
          : input.numericReward != null &&
              (typeof input.numericReward !== "number" || !Number.isFinite(input.numericReward))
            ? "numericReward"
            : input.id != null && !isText(input.id)
              ? "id"
              : input.source !== undefined && !SOURCES.has(input.source)
                ? "source"
                : undefined;
      if (bad !== undefined) {
        this.#invalid(ANNOTATION, bad, input);
        return;
      }
      this.#push(ANNOTATION, this.#jsonWithId(input));
    } catch (err) {
      this.#invalid(ANNOTATION, "input", input, err);
    }
  }

  /**
   * Asks a named person to judge a call: a task in their inbox and a signed webhook carrying a link to it.
   * A client `id` is generated when absent, so a retry makes one task. Returns at once; never throws.
   *
   * @example
   * ```ts
   * intersebd.notify({ completionId: r.id, sendNotificationTo: user.id, message: "Was this title right?" });
   * ```
   */
  notify(input: NotifyInput): void {
    if (!this.#enabled) return;
    try {
      const bad = !isObject(input)
        ? "input"
        : !isTag(input.completionId)
          ? "completionId"
          : !isText(input.sendNotificationTo) || input.sendNotificationTo.trim() === ""
            ? "sendNotificationTo"
            : input.metadata !== undefined && !isObject(input.metadata)
              ? "metadata"
              : input.id != null && !isText(input.id)
                ? "id"
                : undefined;
      if (bad !== undefined) {
        this.#invalid(NOTIFICATION, bad, input);
        return;
      }
      this.#push(NOTIFICATION, this.#jsonWithId(input));
    } catch (err) {
      this.#invalid(NOTIFICATION, "input", input, err);
    }
  }

  /**
   * Captures `client.chat.completions.create` and `client.responses.create` (and so `responses.stream()`)
   * in-process, for services that cannot point their OpenAI client at the proxy. Calls, streams and errors
   * reach the caller unchanged; each finished call is queued for `POST /api/calls`, and its completion id (or
   * Responses id, `resp_…`) then works as a tag. Returns the same client.
   *
   * @example
   * ```ts
   * const openai = intersebd.wrapOpenAI(new OpenAI(), () => ({ sessionId: currentSession(), tags: ["titles"] }));
   * const r = await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
   * intersebd.annotate({ annotationKey: r.id, numericReward: 1 });
   * const resp = await openai.responses.create({ model: "gpt-4.1", input: "Name this thread" });
   * intersebd.annotate({ annotationKey: resp.id, numericReward: 1 });
   * ```
   */
  wrapOpenAI<C extends OpenAIClient>(client: C, options?: WrapOpenAIOptions): C {
    return wrapOpenAIClient(client, options, this.#sink);
  }

  /**
   * Captures an Anthropic client's `messages.create` (and so `messages.stream()`) in-process, as `wrapOpenAI`
   * does for OpenAI's: what the caller gets is unchanged, each finished call is queued for `POST /api/calls`
   * with `protocol: "messages"`, and its message id (`msg_…`) then works as a tag. Returns the same client.
   *
   * @example
   * ```ts
   * const anthropic = intersebd.wrapAnthropic(new Anthropic(), { userId: user.id });
   * const m = await anthropic.messages.create({ model: "claude-sonnet-4-5", max_tokens: 1024, messages });
   * intersebd.annotate({ annotationKey: m.id, numericReward: 1 });
   * ```
   */
  wrapAnthropic<C extends MessagesClient>(client: C, options?: WrapAnthropicOptions): C {
    return wrapAnthropicClient(client, options, this.#sink);
  }

  /**
   * The variant of experiment `name` for a user, a session or an id of yours: the same one the server's proxy
   * picks, computed here with no network call. The experiment's definition is fetched in the background on first
   * use and refreshed every 30 s; until it is known (and when `enabled` is false) the answer is the control with
   * `variant: null`. Pass `headers` with the call (or the assignment to `wrapOpenAI`'s context) so it is recorded
   * under this variant. Never throws.
   *
   * @example
   * ```ts
   * const a = intersebd.variant("titles", { userId: user.id });
   * const r = await openai.chat.completions.create(
   *   { model: a.overrides.model ?? "gpt-4o-mini", messages: [{ role: "system", content: a.overrides.systemPrompt ?? SYSTEM }, ...messages] },
   *   { headers: a.headers },
   * );
   * ```
   */
  variant(name: string, who?: VariantUnit): Assignment {
    return this.experiments.variant(name, who);
  }

  /**
   * Sends everything queued (including events queued while it runs) and resolves when each was accepted,
   * refused or given up on. Never rejects. Call it before a short-lived process or a serverless handler ends.
   *
   * @example
   * ```ts
   * intersebd.annotate({ annotationKey: job.id, numericReward: ok ? 1 : 0 });
   * await intersebd.flush();
   * // edge runtimes: ctx.waitUntil(intersebd.flush());
   * ```
   */
  async flush(options: FlushOptions = {}): Promise<void> {
    if (this.#size() === 0 && this.#draining === undefined) {
      this.#reportDrops();
      return;
    }
    this.#awaited++;
    for (const t of this.#sleeps) refTimer(t);
    let limit: Timer | undefined;
    try {
      const done = this.#startDrain();
      if (options.timeoutMs === undefined) await done;
      else
        await Promise.race([
          done,
          new Promise<void>((resolve) => {
            limit = setTimeout(resolve, Math.max(0, options.timeoutMs ?? 0));
          }),
        ]);
    } finally {
      if (limit !== undefined) clearTimeout(limit);
      if (--this.#awaited === 0) for (const t of this.#sleeps) unrefTimer(t);
    }
  }

  /**
   * Flushes, then stops: later events are refused (reported to `onError` as `shut_down`) and no timer is
   * scheduled again. For the end of a process; in a handler that runs again, use `flush()`.
   *
   * @example
   * ```ts
   * process.on("SIGTERM", async () => {
   *   await intersebd.shutdown({ timeoutMs: 5000 });
   *   process.exit(0);
   * });
   * ```
   */
  async shutdown(options: FlushOptions = {}): Promise<void> {
    this.#closed = true;
    this.experiments.stop();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush(options);
  }

  /**
   * Counters: events waiting or in flight, sent, dropped because the queue was full, and failed.
   *
   * @example
   * ```ts
   * const { dropped, failed } = intersebd.stats();
   * if (dropped + failed > 0) metrics.gauge("intersebd_lost_events", dropped + failed);
   * ```
   */
  stats(): IntersebdStats {
    return {
      queued: this.#size() + this.#inflight,
      sent: this.#sent,
      dropped: this.#dropped,
      failed: this.#failed,
    };
  }

  // ---- queue ----

  #size(): number {
    return this.#items.length - this.#head;
  }

  #push(kind: number, json: string): void {
    if (this.#closed) {
      this.#failed++;
      this.#report(
        new IntersebdError(`${KIND_NAMES[kind]} refused: the client was shut down`, {
          code: "shut_down",
          kind: KIND_NAMES[kind],
          events: parseEvents([json]),
        }),
      );
      return;
    }
    if (this.#size() >= this.#maxQueueSize) {
      this.#items[this.#head] = "";
      this.#head++;
      this.#dropped++;
      if (this.#head > 4096 && this.#head * 2 > this.#items.length) this.#compact();
    }
    this.#kinds.push(kind);
    this.#items.push(json);
    if (this.#draining !== undefined) return;
    if (this.#size() >= this.#maxBatchSize) this.#kick();
    else if (this.#timer === undefined) {
      const t = setTimeout(this.#onTimer, this.#flushIntervalMs);
      unrefTimer(t);
      this.#timer = t;
    }
  }

  #compact(): void {
    this.#items = this.#items.slice(this.#head);
    this.#kinds = this.#kinds.slice(this.#head);
    this.#head = 0;
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    void this.#startDrain();
  };

  /** A full batch: send it as soon as the caller's synchronous code is done, without waiting for the timer. */
  #kick(): void {
    if (this.#kicked) return;
    this.#kicked = true;
    queueMicrotask(() => {
      this.#kicked = false;
      void this.#startDrain();
    });
  }

  #startDrain(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#draining ??= this.#drain().finally(() => {
      this.#draining = undefined;
      // Events queued between the loop's last check and now.
      if (this.#size() > 0 && this.#timer === undefined && !this.#closed) {
        const t = setTimeout(this.#onTimer, this.#flushIntervalMs);
        unrefTimer(t);
        this.#timer = t;
      }
    });
    return this.#draining;
  }

  async #drain(): Promise<void> {
    for (;;) {
      this.#reportDrops();
      if (this.#size() === 0) return;
      const groups: string[][] = [[], [], [], []];
      let n = 0;
      let chars = 0;
      while (this.#head < this.#items.length && n < this.#maxBatchSize) {
        const json = this.#items[this.#head] as string;
        if (n > 0 && chars + json.length > MAX_BATCH_CHARS) break;
        groups[this.#kinds[this.#head] as number]?.push(json);
        this.#items[this.#head] = "";
        this.#head++;
        n++;
        chars += json.length;
      }
      if (this.#head === this.#items.length) {
        this.#items = [];
        this.#kinds = [];
        this.#head = 0;
      } else if (this.#head > 4096 && this.#head * 2 > this.#items.length) this.#compact();
      this.#inflight += n;
      const sends: Promise<void>[] = [];
      for (let kind = 0; kind < groups.length; kind++) {
        const batch = groups[kind] as string[];
        if (batch.length > 0) sends.push(this.#send(kind, batch));
      }
      await Promise.all(sends);
    }
  }

  #reportDrops(): void {
    const n = this.#dropped - this.#dropsReported;
    if (n <= 0) return;
    this.#dropsReported = this.#dropped;
    this.#report(
      new IntersebdError(
        `queue full (maxQueueSize ${this.#maxQueueSize}): dropped the ${n} oldest event(s)`,
        { code: "queue_full", count: n },
      ),
    );
  }

  // ---- delivery ----

  #base(): string {
    this.#baseURL ??= (this.#baseURLOption ?? readEnv("INTERSEBD_URL") ?? DEFAULT_URL).replace(/\/+$/, "");
    return this.#baseURL;
  }

  #url(kind: number): string {
    return this.#base() + PATHS[kind];
  }

  #requestHeaders(): Record<string, string> {
    if (this.#headers === undefined) {
      const key = this.#apiKeyOption ?? readEnv("INTERSEBD_API_KEY");
      this.#headers = key
        ? { "content-type": "application/json", "x-intersebd-key": key }
        : { "content-type": "application/json" };
    }
    return this.#headers;
  }

  /** Sends one kind's batch until it is accepted, refused or out of retries. Never rejects. */
  async #send(kind: number, items: string[]): Promise<void> {
    let batch = items;
    let attempt = 0;
    try {
      while (batch.length > 0) {
        let res: Response | undefined;
        let networkError: unknown;
        try {
          const f = this.#fetch ?? globalThis.fetch;
          res = await f(this.#url(kind), {
            method: "POST",
            headers: this.#requestHeaders(),
            body: `[${batch.join(",")}]`,
            signal: timeoutSignal(REQUEST_TIMEOUT_MS),
          });
        } catch (err) {
          networkError = err;
        }
        if (res?.ok) {
          await res.body?.cancel().catch(() => {});
          this.#inflight -= batch.length;
          this.#sent += batch.length;
          return;
        }
        if (res === undefined || res.status >= 500 || res.status === 429 || res.status === 408) {
          const retryAfter = parseRetryAfter(res?.headers.get("retry-after") ?? null);
          if (attempt >= this.#maxRetries) {
            const detail = res ? await errorOf(res) : undefined;
            const why = detail ? detail.message : describeNetworkError(networkError);
            this.#fail(
              kind,
              batch,
              `${KIND_NAMES[kind]} batch of ${batch.length} undeliverable after ${attempt + 1} attempt(s): ${why}`,
              { code: detail?.code ?? "network_error", status: res?.status, cause: networkError },
            );
            return;
          }
          await res?.body?.cancel().catch(() => {});
          await this.#sleep(backoff(attempt, retryAfter));
          attempt++;
          continue;
        }
        const detail = await errorOf(res);
        const item = /^\[(\d+)\]\.?(.*)$/.exec(detail.field ?? "");
        const index = item ? Number(item[1]) : -1;
        if (res.status === 400 && index >= 0 && index < batch.length) {
          // One bad item rejects the whole batch on the server: report it alone and send the others again.
          // The server names the field `[i].x` after the item's place in the batch, meaningless to the caller.
          const message = detail.message.replace(/^field \[\d+\]\.?([^:]*):\s*/, (_m, f: string) =>
            f ? `field ${f}: ` : "",
          );
          this.#fail(
            kind,
            [batch[index] as string],
            `${KIND_NAMES[kind]} refused by the server: ${message}`,
            {
              code: detail.code,
              status: res.status,
              field: item?.[2] || undefined,
            },
          );
          batch = batch.slice(0, index).concat(batch.slice(index + 1));
          continue;
        }
        if (res.status === 413 && batch.length > 1) {
          const half = batch.length >> 1;
          await this.#send(kind, batch.slice(0, half));
          await this.#send(kind, batch.slice(half));
          return;
        }
        this.#fail(kind, batch, detail.message, {
          code: detail.code,
          status: res.status,
          field: detail.field,
        });
        return;
      }
    } catch (err) {
      // A bug of ours or a hostile `fetch`: still account for the batch and tell someone.
      this.#fail(kind, batch, `${KIND_NAMES[kind]} batch failed: ${(err as Error)?.message ?? err}`, {
        code: "network_error",
        cause: err,
      });
    }
  }

  #fail(
    kind: number,
    batch: string[],
    message: string,
    opts: { code: string; status?: number; field?: string; cause?: unknown },
  ): void {
    this.#inflight -= batch.length;
    this.#failed += batch.length;
    this.#report(
      new IntersebdError(message, { ...opts, kind: KIND_NAMES[kind], events: parseEvents(batch) }),
    );
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#sleeps.delete(t);
        resolve();
      }, ms);
      // In the background a retry must not hold the process open; under an awaited flush() it must.
      if (this.#awaited === 0) unrefTimer(t);
      this.#sleeps.add(t);
    });
  }

  // ---- errors and calls ----

  #invalid(kind: number, field: string, input: unknown, cause?: unknown): void {
    this.#failed++;
    const why =
      cause !== undefined
        ? `cannot be serialised as JSON (${(cause as Error)?.message ?? cause})`
        : field === "input"
          ? "must be an object"
          : field === "numericReward"
            ? "must be a finite number"
            : field === "metadata"
              ? "must be a JSON object"
              : field === "source"
                ? 'must be one of "code", "human", "user", "judge"'
                : field === "id" || field === "sendNotificationTo"
                  ? "must be a non-empty string"
                  : `must be a non-empty string of at most ${MAX_TAG_LENGTH} characters`;
    this.#report(
      new IntersebdError(`${KIND_NAMES[kind]} refused: ${field} ${why}`, {
        code: "invalid_input",
        field,
        kind: KIND_NAMES[kind],
        events: [input],
        cause,
      }),
    );
  }

  #enqueueCall(call: Record<string, unknown>): void {
    let json: string;
    try {
      json = JSON.stringify(call);
    } catch (err) {
      this.#invalid(CALL, "input", call, err);
      return;
    }
    this.#push(CALL, json);
  }

  /** The event's JSON with a client id, generated when the caller gave none, so a retry is stored once. */
  #jsonWithId(input: { id?: unknown }): string {
    const json = JSON.stringify(input);
    if (input.id != null) return json;
    const id = this.#nextId();
    // Splicing the id into the JSON costs a fraction of copying the caller's object to add it.
    return input.id === undefined && json.length > 2 && json.charCodeAt(0) === 123
      ? `{"id":"${id}",${json.slice(1)}`
      : JSON.stringify({ ...input, id });
  }

  /**
   * A client id for an annotation or a notification: a random UUID drawn once per instance, and a counter. As unique as a UUID
   * per event (the prefix has 122 random bits) for a tenth of the cost of drawing one each time.
   */
  #nextId(): string {
    this.#idPrefix ??= randomId();
    return `${this.#idPrefix}-${(this.#idCounter++).toString(36)}`;
  }

  #report(error: IntersebdError): void {
    try {
      this.#onError(error);
    } catch {}
  }
}
