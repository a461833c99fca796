/**
 * The proxy's hot path: forward bytes to the upstream and back, and watch them on the side.
 *
 * Nothing here waits on the database: when a chat completion ends, the record is handed to a callback
 * (the write-behind recorder, which appends it to its answered journal with one synchronous write). Bodies are
 * forwarded as they come, never buffered; for chat completions a copy of the request body and of the response
 * (parsed as SSE when streamed) is kept to build the record. A chat completion's record is handed over before
 * the client can have the whole answer: before the chunk that carries a stream's `data: [DONE]`, before the
 * chunk that completes a body of known length, before the end of a chunked body. So a call whose answer a
 * client received completely is in the journal whenever the process is killed.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import { StringDecoder } from "node:string_decoder";
import zlib from "node:zlib";
import { ChatStreamReader } from "intersebd/chat";
import type { CapturedCall, Outcome, UnbuiltCall } from "../calls/index.ts";
import type { Upstream } from "../config/index.ts";
import { HttpError } from "../http/error.ts";
import type { Metrics } from "../metrics/index.ts";
import { keyMatches } from "../util/auth.ts";
import { jsonDepth, MAX_JSON_DEPTH } from "../util/bounds.ts";
import { clip } from "../util/clip.ts";
import { newId } from "../util/ids.ts";
import { type CallContext, first, responseHeaders, splitRequestHeaders } from "./headers.ts";
import { type ProxyRoute, routeRequest } from "./route.ts";

export { routeRequest } from "./route.ts";

export interface ProxyOptions {
  upstreams: Map<string, Upstream>;
  apiKey?: string;
  maxBodyBytes: number;
  upstreamTimeoutMs: number;
  metrics: Metrics;
  /**
   * Receives every finished chat completion, before the response's last bytes are sent; may throw (the call then
   * goes to `onRejected`), must not wait on anything.
   */
  onCall: (call: CapturedCall) => void;
  /** Receives what is left of a call whose record could not be built or handed over; must not throw. */
  onRejected: (call: UnbuiltCall, err: unknown) => void;
}

// Keep-alive to the upstream matters more than anything else for proxy overhead (see README, Benchmarks).
const agentOptions = { keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: "lifo" as const };
const httpAgent = new http.Agent(agentOptions);
const httpsAgent = new https.Agent(agentOptions);
/** How long the rest of an upstream body may take to arrive after its client left at `[DONE]`. */
const DRAIN_MS = 10_000;

export function sendJsonError(
  res: ServerResponse,
  err: HttpError,
  extraHeaders: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(err);
  res.writeHead(err.status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    ...extraHeaders,
  });
  res.end(body);
}

/**
 * Returns a request handler for proxy paths. It answers and returns true for `/v1/*` and `/<name>/v1/*`,
 * and returns false for anything else, which the caller routes on.
 */
export function createProxy(opts: ProxyOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    let route: ReturnType<typeof routeRequest>;
    try {
      route = routeRequest(req.method ?? "GET", req.url ?? "/", opts.upstreams);
    } catch (err) {
      sendJsonError(res, err instanceof HttpError ? err : new HttpError(400, "request path is malformed"));
      return true;
    }
    if (!route) return false;
    if ("unknownUpstream" in route) {
      // The list of upstreams is configuration: only a caller with the key may see it.
      if (opts.apiKey && !keyMatches(first(req.headers["x-intersebd-key"]), opts.apiKey)) {
        sendJsonError(res, wrongKey());
        return true;
      }
      const known = [...opts.upstreams.keys()].filter((n) => n !== "default");
      sendJsonError(
        res,
        new HttpError(
          404,
          `unknown upstream "${route.unknownUpstream}"; configured: ${known.length ? known.map((n) => `/${n}/v1`).join(", ") : "none besides the default /v1"} (set INTERSEBD_UPSTREAMS)`,
          { field: "upstream", code: "unknown_upstream" },
        ),
      );
      return true;
    }
    try {
      forward(req, res, route, opts);
    } catch (err) {
      sendJsonError(res, err instanceof HttpError ? err : new HttpError(500, "internal error in the proxy"));
    }
    return true;
  };
}

const wrongKey = () =>
  new HttpError(401, "missing or wrong x-intersebd-key header (this intersebd server requires its API key)");

function forward(req: IncomingMessage, res: ServerResponse, route: ProxyRoute, opts: ProxyOptions): void {
  const t0 = performance.now();
  const startedAt = Date.now();
  const { forward: headers, context, hasAuth } = splitRequestHeaders(req.rawHeaders);
  if (opts.apiKey && !keyMatches(context.key, opts.apiKey)) throw wrongKey();
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > opts.maxBodyBytes) {
    throw new HttpError(
      413,
      `request body of ${declared} bytes exceeds the limit of ${opts.maxBodyBytes} (INTERSEBD_MAX_BODY_BYTES)`,
    );
  }
  const { upstream } = route;
  // With raw header arrays Node adds no Host of its own; the upstream's is the right one (virtual hosting, TLS SNI).
  headers.push("host", upstream.baseUrl.host);
  if (!hasAuth && upstream.apiKey) headers.push("authorization", `Bearer ${upstream.apiKey}`);

  const callId = newId("call");
  const watch = route.isChat ? new CallWatcher(callId, route, context, startedAt, t0, opts) : undefined;
  const labels = { upstream: upstream.name, kind: route.isChat ? "chat" : "other" };
  let status: number | null = null;
  let upstreamRes: IncomingMessage | undefined;
  let settled = false;
  /** Ends the call (once) and hands its record over; `then` runs once the record is handed over. */
  const settle = (outcome: Outcome, error: string | null, then?: () => void) => {
    if (settled) {
      if (then) watch ? watch.whenRecorded(then) : then();
      return;
    }
    settled = true;
    clearTimeout(headerTimer);
    opts.metrics.proxiedRequests.inc({ ...labels, status: status ?? outcome });
    if (watch) {
      watch.finish(outcome, status, error);
      if (then) watch.whenRecorded(then);
    } else then?.();
  };

  const url = upstream.baseUrl;
  const upstreamReq = (url.protocol === "https:" ? https : http).request({
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port || undefined,
    method: req.method,
    path: route.upstreamPath,
    headers,
    agent: url.protocol === "https:" ? httpsAgent : httpAgent,
  });

  const headerTimer = setTimeout(() => {
    upstreamReq.destroy(new UpstreamTimeout());
  }, opts.upstreamTimeoutMs);

  let received = 0;
  req.on("data", (chunk: Buffer) => {
    received += chunk.length;
    if (received > opts.maxBodyBytes) {
      req.unpipe(upstreamReq);
      upstreamReq.destroy();
      sendJsonError(
        res,
        new HttpError(
          413,
          `request body exceeds the limit of ${opts.maxBodyBytes} bytes (INTERSEBD_MAX_BODY_BYTES)`,
        ),
        { connection: "close" },
      );
      settle("client_aborted", "request body too large");
      return;
    }
    watch?.requestChunk(chunk);
  });
  req.pipe(upstreamReq);

  upstreamReq.on("response", (ures) => {
    clearTimeout(headerTimer);
    upstreamRes = ures;
    status = ures.statusCode ?? 502;
    opts.metrics.upstreamLatency.observe({ upstream: upstream.name }, (performance.now() - t0) / 1000);
    res.writeHead(status, responseHeaders(ures.rawHeaders, callId));
    const ended = (): Outcome => (status !== null && status >= 400 ? "upstream_error" : "ok");
    if (watch) forwardRecorded(ures, res, watch, (then) => settle(ended(), null, then));
    else {
      ures.pipe(res);
      ures.on("end", () => settle(ended(), null));
    }
    ures.on("error", (err) => {
      res.destroy();
      settle("network_error", `upstream connection broke mid-response: ${err.message}`);
    });
  });

  upstreamReq.on("error", (err) => {
    if (settled) return;
    const idHeader = { "x-intersebd-call-id": callId };
    if (err instanceof UpstreamTimeout) {
      const msg = `upstream ${upstream.name} sent no response within ${opts.upstreamTimeoutMs} ms`;
      sendJsonError(res, new HttpError(504, msg), idHeader);
      settle("timeout", err.message);
      return;
    }
    const reason = (err as NodeJS.ErrnoException).code ?? err.message;
    sendJsonError(
      res,
      new HttpError(502, `upstream ${upstream.name} (${url.host}) is unreachable: ${reason}`),
      idHeader,
    );
    settle("network_error", err.message);
  });

  res.on("close", () => {
    if (res.writableFinished) return;
    if (upstreamRes && watch?.streamDone) {
      // The client read `[DONE]` and left before the upstream's end of body (the official Python client closes
      // there): it has the whole answer, so the call is complete. The rest of the body is read and dropped, so
      // the upstream socket ends its response cleanly and goes back to the keep-alive pool, not destroyed.
      drain(upstreamRes);
      settle("ok", null);
      return;
    }
    // The client went away before we finished answering: stop the upstream work it asked for.
    upstreamReq.destroy();
    settle("client_aborted", "client disconnected before the response was complete");
  });
}

/**
 * Forwards a chat completion's response and has its record handed over (`settle`, whose callback runs once it
 * is) before the last bytes that complete the answer for the client: the chunk carrying `data: [DONE]`, the chunk
 * that completes a body of known length (held until then), the end of a chunked body (the terminating chunk,
 * held until then). Everything else is written as it arrives, with backpressure: the upstream pauses while the
 * client's socket is full.
 *
 * A compressed stream's `[DONE]` is seen only once the inflater has decoded it, a little after its chunk went
 * out: for such a stream the record is handed over before the end of the body, not before `[DONE]`.
 */
function forwardRecorded(
  ures: IncomingMessage,
  res: ServerResponse,
  watch: CallWatcher,
  settle: (then?: () => void) => void,
): void {
  watch.responseStart(ures);
  const declared = ures.headers["content-length"];
  const length = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : undefined;
  let received = 0;
  let last = false;
  let waiting = false;
  const finish = (chunk?: Buffer) => {
    if (last) return;
    last = true;
    settle(() => {
      if (!res.destroyed) res.end(chunk);
    });
  };
  ures.on("data", (chunk: Buffer) => {
    // The client left (after `[DONE]`: the rest is drained into nowhere) or the answer is complete.
    if (res.destroyed || last) return;
    watch.responseChunk(chunk);
    received += chunk.length;
    if (length !== undefined && received >= length) return finish(chunk);
    if (watch.streamDone) settle();
    if (!res.write(chunk) && !waiting) {
      waiting = true;
      ures.pause();
      res.once("drain", () => {
        waiting = false;
        ures.resume();
      });
    }
  });
  ures.on("end", () => finish());
}

/** Reads what is left of an upstream response into nowhere; one that does not end in `DRAIN_MS` is destroyed. */
function drain(ures: IncomingMessage): void {
  const timer = setTimeout(() => ures.destroy(), DRAIN_MS);
  timer.unref();
  ures.once("close", () => clearTimeout(timer));
  ures.on("error", () => {});
  ures.unpipe();
  ures.resume();
}

class UpstreamTimeout extends Error {
  override name = "UpstreamTimeout";
  override message = "upstream response timeout";
}

/** Watches one chat completion on the side and builds its record when it ends. */
class CallWatcher {
  readonly #requestChunks: Buffer[] = [];
  readonly #responseChunks: Buffer[] = [];
  #stream = false;
  #ttftMs: number | null = null;
  #reader: ChatStreamReader | undefined;
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
  readonly #sink: Pick<ProxyOptions, "onCall" | "onRejected">;

  constructor(
    id: string,
    route: ProxyRoute,
    context: CallContext,
    startedAt: number,
    t0: number,
    sink: Pick<ProxyOptions, "onCall" | "onRejected">,
  ) {
    this.#id = id;
    this.#route = route;
    this.#context = context;
    this.#startedAt = startedAt;
    this.#t0 = t0;
    this.#sink = sink;
  }

  requestChunk(chunk: Buffer): void {
    this.#requestChunks.push(chunk);
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
      this.#reader = new ChatStreamReader();
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
        this.#sink.onCall(this.#build(outcome, status, error));
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
    if (!reader.complete) return ["upstream_error", TRUNCATED];
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
    const request = parseJsonObject(requestText);
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
    return {
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
  }
}

const TRUNCATED = "stream ended without [DONE] or a finish reason";

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
  return { _raw: text.length > 65536 ? `${text.slice(0, 65536)}…` : text };
}
