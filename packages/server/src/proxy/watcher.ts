/**
 * Watches one chat completion on the side of the proxy's hot path and builds its record when it ends: the request
 * body, the response (reassembled with the SDK's chat kernel when streamed), time to first token, and the verdict
 * (`[DONE]` or a finish reason ends a stream; an error inside it, or an end without either, is an upstream error).
 */
import type { IncomingMessage } from "node:http";
import { StringDecoder } from "node:string_decoder";
import zlib from "node:zlib";
import { ChatStreamReader, MessagesStreamReader, ResponsesStreamReader } from "intersebd/chat";
import type { CapturedCall, Outcome, UnbuiltCall } from "../calls/index.ts";
import type { Routed } from "../experiments/router.ts";
import { rawOf } from "../store/json.ts";
import { jsonDepth, MAX_JSON_DEPTH } from "../util/bounds.ts";
import { clip } from "../util/clip.ts";
import type { ShadowHandoff } from "./experiments.ts";
import type { CallContext } from "./headers.ts";
import { continueResponses } from "./responses.ts";
import type { ProxyRoute } from "./route.ts";

/** Where a watcher hands its record: the recorder, or the set-aside file when the record cannot be built. */
export interface CallSink {
  /**
   * Receives the finished record, before the response's last bytes are sent; may throw (then `onRejected`).
   * `shadow` comes with a call routed through an experiment in status shadow, for the shadow runner.
   */
  onCall: (call: CapturedCall, shadow?: ShadowHandoff) => void;
  /** Receives what is left of a call whose record could not be built or handed over; must not throw. */
  onRejected: (call: UnbuiltCall, err: unknown) => void;
}

/** What a streamed answer is read with, one per protocol: chat's, Anthropic Messages'. */
interface StreamReader {
  feed(text: string): void;
  end(): void;
  /** The stream's terminal event was read (`[DONE]`, `message_stop`): the answer is complete. */
  readonly done: boolean;
  readonly error: unknown;
  readonly complete: boolean;
  result(): Record<string, unknown> | undefined;
}

/** Watches one chat completion (or Messages call) on the side and builds its record when it ends. */
export class CallWatcher {
  readonly #requestChunks: Buffer[] = [];
  readonly #responseChunks: Buffer[] = [];
  #stream = false;
  #ttftMs: number | null = null;
  #reader: StreamReader | undefined;
  #decoder: StringDecoder | undefined;
  /** `finish` was called: bytes still arriving (an upstream drained after `[DONE]`) are not the record's. */
  #finished = false;
  #built = false;
  /** Waiting for the record to be handed over (`whenRecorded`). */
  #afterBuilt: Array<() => void> = [];
  #inflate: zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | undefined;
  readonly #id: string;
  readonly #route: ProxyRoute;
  readonly #context: CallContext;
  readonly #startedAt: number;
  readonly #t0: number;
  readonly #sink: CallSink;
  #routed: Routed | undefined;
  #shadow: ShadowHandoff | undefined;
  #parsedRequest: Record<string, unknown> | undefined;

  constructor(
    id: string,
    route: ProxyRoute,
    context: CallContext,
    startedAt: number,
    t0: number,
    sink: CallSink,
  ) {
    this.#id = id;
    this.#route = route;
    this.#context = context;
    this.#startedAt = startedAt;
    this.#t0 = t0;
    this.#sink = sink;
  }

  /** The experiment and variant the call goes through (recorded), and what the shadow runner gets of it. */
  routed(routed: Routed, shadow: ShadowHandoff | undefined): void {
    this.#routed = routed;
    this.#shadow = shadow;
  }

  /** `parsed`: the whole body, already parsed (experiments read it to route it), so that it is not parsed twice. */
  requestChunk(chunk: Buffer, parsed?: Record<string, unknown>): void {
    this.#requestChunks.push(chunk);
    this.#parsedRequest = parsed;
  }

  responseStart(ures: IncomingMessage): void {
    this.#stream = String(ures.headers["content-type"] ?? "").includes("text/event-stream");
    const encoding = String(ures.headers["content-encoding"] ?? "").toLowerCase();
    if (encoding === "gzip" || encoding === "deflate" || encoding === "br") {
      this.#inflate =
        encoding === "gzip"
          ? zlib.createGunzip()
          : encoding === "br"
            ? zlib.createBrotliDecompress()
            : zlib.createInflate();
      this.#inflate.on("data", (c: Buffer) => this.#decoded(c));
      // A body we cannot decode is still forwarded untouched; only its record lacks the response.
      this.#inflate.on("error", () => {});
    }
    if (this.#stream) {
      const protocol = this.#route.protocol;
      this.#reader =
        protocol === "messages"
          ? new MessagesStreamReader()
          : protocol === "responses"
            ? new ResponsesStreamReader()
            : new ChatStreamReader();
      this.#decoder = new StringDecoder("utf8");
    }
  }

  /** The stream's `data: [DONE]` has been read (and so forwarded: this sees each chunk before the client). */
  get streamDone(): boolean {
    return this.#reader?.done === true;
  }

  responseChunk(chunk: Buffer): void {
    if (this.#finished) return;
    if (this.#ttftMs === null && this.#stream) this.#ttftMs = Math.round(performance.now() - this.#t0);
    if (this.#inflate) this.#inflate.write(chunk);
    else this.#decoded(chunk);
  }

  #decoded(chunk: Buffer): void {
    if (this.#reader && this.#decoder) this.#reader.feed(this.#decoder.write(chunk));
    else this.#responseChunks.push(chunk);
  }

  finish(outcome: Outcome, status: number | null, error: string | null): void {
    this.#finished = true;
    const done = () => {
      if (this.#built) return;
      this.#built = true;
      if (this.#reader && this.#decoder) {
        this.#reader.feed(this.#decoder.end());
        this.#reader.end();
      }
      [outcome, error] = this.#verdict(outcome, status, error);
      try {
        this.#sink.onCall(this.#build(outcome, status, error), this.#shadow);
      } catch (err) {
        // Building the record must never affect the proxied request, and never lose the call silently either:
        // what can be serialised of it is set aside (rejected-*.jsonl), counted and logged.
        this.#sink.onRejected(this.#unbuilt(outcome, status, error), err);
      }
      for (const fn of this.#afterBuilt.splice(0)) fn();
    };
    if (this.#inflate) {
      this.#inflate.end();
      this.#inflate.once("end", done).once("error", done);
    } else done();
  }

  /** Runs `fn` once the record was handed over (at once if it was); only after `finish`. */
  whenRecorded(fn: () => void): void {
    if (this.#built) fn();
    else this.#afterBuilt.push(fn);
  }

  /**
   * What a streamed answer's own content says about how the call ended. `[DONE]` or the end of the body,
   * whichever comes first, ends a stream: a client that leaves after `[DONE]` had all of it (ok). An error
   * inside a 200 stream (`{"error": {...}}`, `finish_reason: "error"`) is an upstream error, and so is a body
   * that ends without `[DONE]` and without a finish reason (truncated); the partial answer is kept either way.
   */
  #verdict(outcome: Outcome, status: number | null, error: string | null): [Outcome, string | null] {
    const reader = this.#reader;
    if (!reader) return [outcome, error];
    if (outcome === "client_aborted" && reader.done) [outcome, error] = ["ok", null];
    if (outcome !== "ok" || (status !== null && status >= 400)) return [outcome, error];
    const streamError = reader.error;
    if (streamError)
      return ["upstream_error", `upstream error mid-stream: ${clip(JSON.stringify(streamError), 2000)}`];
    if (!reader.complete)
      return [
        "upstream_error",
        this.#route.protocol === "messages"
          ? TRUNCATED_MESSAGES
          : this.#route.protocol === "responses"
            ? TRUNCATED_RESPONSES
            : TRUNCATED,
      ];
    return [outcome, error];
  }

  #unbuilt(outcome: Outcome, status: number | null, error: string | null): UnbuiltCall {
    const text = (chunks: Buffer[]) => (chunks.length ? Buffer.concat(chunks).toString("utf8") : null);
    return {
      id: this.#id,
      startedAt: this.#startedAt,
      endedAt: this.#startedAt + Math.round(performance.now() - this.#t0),
      upstream: this.#route.upstream.name,
      path: this.#route.upstreamPath,
      status,
      outcome,
      error,
      requestText: text(this.#requestChunks),
      responseText: text(this.#responseChunks),
      sessionId: this.#context.sessionId,
      userId: this.#context.userId,
      tags: this.#context.tags,
    };
  }

  #build(outcome: Outcome, status: number | null, error: string | null): CapturedCall {
    const requestText = Buffer.concat(this.#requestChunks).toString("utf8");
    const parsed = this.#parsedRequest;
    const request =
      parsed && jsonDepth(parsed, MAX_JSON_DEPTH) <= MAX_JSON_DEPTH ? parsed : parseJsonObject(requestText);
    let response: Record<string, unknown> | null;
    let responseText: string | undefined;
    if (this.#reader) {
      response = this.#reader.result() ?? null;
      if (response && jsonDepth(response, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) response = { _raw: TOO_DEEP };
    } else {
      responseText = this.#responseChunks.length
        ? Buffer.concat(this.#responseChunks).toString("utf8")
        : undefined;
      response = responseText ? parseJsonObject(responseText) : null;
    }
    const call: CapturedCall = {
      id: this.#id,
      startedAt: this.#startedAt,
      endedAt: this.#startedAt + Math.round(performance.now() - this.#t0),
      ttftMs: this.#ttftMs,
      upstream: this.#route.upstream.name,
      path: this.#route.upstreamPath,
      stream: this.#stream || request?.stream === true,
      status,
      outcome,
      error,
      request,
      response,
      // Raw text only when it parsed as a JSON object; `_raw` wrappers are re-serialised.
      requestText: request && !("_raw" in request) ? requestText : undefined,
      responseText: response && !("_raw" in response) ? responseText : undefined,
      sessionId: this.#context.sessionId,
      userId: this.#context.userId,
      tags: this.#context.tags,
      metadata: this.#context.metadata,
      source: "proxy",
    };
    // The bodies as received are the originals; the record converts them to the chat shape (calls/record.ts).
    if (this.#route.protocol === "messages") call.protocol = "messages";
    if (this.#route.protocol === "responses") continueResponses(call, request, response);
    const routed = this.#routed;
    if (!routed) return call;
    call.experiment = routed.experiment.name;
    call.variant = routed.variant;
    call.assignmentUnit = routed.assignmentUnit;
    call.shadowOf = routed.shadowOf ?? null;
    if (routed.promptVersion !== undefined)
      call.metadata = { ...call.metadata, promptVersion: routed.promptVersion };
    return call;
  }
}

const TRUNCATED = "stream ended without [DONE] or a finish reason";
const TRUNCATED_MESSAGES = "stream ended without message_stop";
const TRUNCATED_RESPONSES = "stream ended without response.completed, response.failed or response.incomplete";

const TOO_DEEP = `[a JSON body nested more than ${MAX_JSON_DEPTH} levels deep; not kept]`;

/**
 * A body as a JSON object; anything else is kept as `{ "_raw": text }` so the record still shows it. So is an
 * object nested deeper than `MAX_JSON_DEPTH`: every reader (the API's answers, redaction, exports) walks bodies
 * recursively and would overflow the stack on it, so it is stored as the text it came as, which all can read.
 */
function parseJsonObject(text: string): Record<string, unknown> | null {
  if (!text) return null;
  try {
    const v = JSON.parse(text);
    if (v && typeof v === "object" && !Array.isArray(v) && jsonDepth(v, MAX_JSON_DEPTH) <= MAX_JSON_DEPTH)
      return v as Record<string, unknown>;
  } catch {}
  return rawOf(text);
}
