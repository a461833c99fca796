/**
 * The proxy's hot path: forward bytes to the upstream and back, and watch them on the side.
 *
 * Nothing here waits on the database: when a chat completion ends, the record is handed to a callback
 * (the write-behind recorder, which appends it to its answered journal with one synchronous write). Bodies are
 * forwarded as they come, never buffered, with one exception: while experiments exist, a chat completion's request
 * body is read whole (within the body limit) to route it (proxy/experiments.ts). For chat completions a copy of
 * the request body and of the response (parsed as SSE when streamed) is kept to build the record. A chat completion's record is handed over before
 * the client can have the whole answer: before the chunk that carries a stream's `data: [DONE]`, before the
 * chunk that completes a body of known length, before the end of a chunked body. So a call whose answer a
 * client received completely is in the journal whenever the process is killed.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { Outcome } from "../calls/index.ts";
import type { Upstream } from "../config/index.ts";
import { HttpError } from "../http/error.ts";
import { charging, type Limits } from "../limits/index.ts";
import type { Metrics } from "../metrics/index.ts";
import { keyMatches } from "../util/auth.ts";
import { newId } from "../util/ids.ts";
import {
  authorizationOf,
  type Decision,
  decide,
  type LiveExperiments,
  readBody,
  routesChats,
  unknownExperiment,
  withLength,
} from "./experiments.ts";
import { type CallContext, first, responseHeaders, splitRequestHeaders } from "./headers.ts";
import { type ProxyRoute, routeRequest } from "./route.ts";
import { type CallSink, CallWatcher } from "./watcher.ts";

export { routeRequest } from "./route.ts";

export interface ProxyOptions extends CallSink {
  upstreams: Map<string, Upstream>;
  apiKey?: string;
  /**
   * Checks the caller's `x-intersebd-key` for the upstream it asks for (keys/ring.ts), instead of `apiKey`: an
   * error to answer, or undefined to go on. `upstream` unset: the caller asks for an upstream that does not exist.
   */
  authorize?: (key: string | undefined, upstream?: string) => HttpError | undefined;
  maxBodyBytes: number;
  upstreamTimeoutMs: number;
  metrics: Metrics;
  /** The experiments chat requests are routed by (experiments/live.ts); none: requests are forwarded as sent. */
  experiments?: LiveExperiments;
  /** Rate limits (limits/): a request over one is answered 429 before anything goes upstream. */
  limits?: Limits;
  /** An unexpected error while routing (the request is then forwarded unrouted): logged, never answered. */
  onRoutingBug?: (err: unknown) => void;
}

// Keep-alive to the upstream matters more than anything else for proxy overhead (see README, Benchmarks).
const agentOptions = { keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: "lifo" as const };
const httpAgent = new http.Agent(agentOptions);
const httpsAgent = new https.Agent(agentOptions);
/** How long the rest of an upstream body may take to arrive after its client left at `[DONE]`. */
const DRAIN_MS = 10_000;
/** Anthropic's Messages paths (`/messages`, `/messages/count_tokens`, `/messages/batches`). */
const ANTHROPIC_PATH = /^\/messages(?:[/?]|$)/;

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
      const denied = refusal(opts, first(req.headers["x-intersebd-key"]));
      if (denied) {
        sendJsonError(res, denied);
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

/** Why the caller's key may not use `upstream` through the proxy, or undefined when it may. */
function refusal(opts: ProxyOptions, key: string | undefined, upstream?: string): HttpError | undefined {
  if (opts.authorize) return opts.authorize(key, upstream);
  return opts.apiKey && !keyMatches(key, opts.apiKey) ? wrongKey() : undefined;
}

/** What is known of a request once its headers are read. */
interface Prepared {
  t0: number;
  startedAt: number;
  headers: string[];
  context: CallContext;
  hasAuth: boolean;
  callId: string;
}

const tooLarge = (max: number) =>
  new HttpError(413, `request body exceeds the limit of ${max} bytes (INTERSEBD_MAX_BODY_BYTES)`);

function forward(req: IncomingMessage, res: ServerResponse, route: ProxyRoute, opts: ProxyOptions): void {
  const t0 = performance.now();
  const startedAt = Date.now();
  const { forward: headers, context, hasAuth } = splitRequestHeaders(req.rawHeaders);
  const denied = refusal(opts, context.key, route.upstream.name);
  if (denied) throw denied;
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > opts.maxBodyBytes) {
    throw new HttpError(
      413,
      `request body of ${declared} bytes exceeds the limit of ${opts.maxBodyBytes} (INTERSEBD_MAX_BODY_BYTES)`,
    );
  }
  const prepared: Prepared = { t0, startedAt, headers, context, hasAuth, callId: newId("call") };
  const live = opts.experiments;
  // Without experiments the body streams through as it comes; with some, a chat's is read whole to route it.
  if (route.protocol !== "chat" || !routesChats(live)) {
    // A header names an experiment when none exists (an `exp:` alias would need the body read: it goes as sent).
    if (route.protocol === "chat" && live && context.experiment) throw unknownExperiment(context.experiment);
    send(req, res, route, opts, prepared);
    return;
  }
  readBody(
    req,
    res,
    opts.maxBodyBytes,
    () => tooLarge(opts.maxBodyBytes),
    sendJsonError,
    (body) => {
      let decision: Decision;
      try {
        decision = decide(body, route, context, prepared.callId, live, opts.upstreams, opts.onRoutingBug);
      } catch (err) {
        sendJsonError(
          res,
          err instanceof HttpError ? err : new HttpError(500, "internal error in the proxy"),
        );
        return;
      }
      try {
        send(req, res, decision.route, opts, prepared, decision);
      } catch (err) {
        sendJsonError(
          res,
          err instanceof HttpError ? err : new HttpError(500, "internal error in the proxy"),
        );
      }
    },
  );
}

/** Sends the request once the rate limits admit it, on the upstream it finally goes to (a variant's, maybe). */
function send(
  req: IncomingMessage,
  res: ServerResponse,
  route: ProxyRoute,
  opts: ProxyOptions,
  prepared: Prepared,
  decision?: Decision,
): void {
  if (!opts.limits) {
    sendAdmitted(req, res, route, opts, prepared, decision, opts);
    return;
  }
  const { key, userId } = prepared.context;
  opts.limits.admit(res, { key, userId, upstream: route.upstream.name }, (charge) =>
    sendAdmitted(req, res, route, opts, prepared, decision, charging(opts, charge)),
  );
}

/**
 * Sends the request upstream and its answer back. With a `decision` the body was read whole (experiments) and is
 * sent as decided; without, it streams from the client. The call's record goes to `sink`.
 */
function sendAdmitted(
  req: IncomingMessage,
  res: ServerResponse,
  route: ProxyRoute,
  opts: ProxyOptions,
  { t0, startedAt, headers: clientHeaders, context, hasAuth, callId }: Prepared,
  decision: Decision | undefined,
  sink: CallSink,
): void {
  const headers = decision ? withLength(clientHeaders, decision.body.length) : clientHeaders;
  const { upstream } = route;
  // With raw header arrays Node adds no Host of its own; the upstream's is the right one (virtual hosting, TLS SNI).
  headers.push("host", upstream.baseUrl.host);
  // Anthropic's API takes its key as `x-api-key`: an upstream reached at `/messages...` speaks Anthropic.
  if (!hasAuth && upstream.apiKey)
    headers.push(
      ...(ANTHROPIC_PATH.test(route.rest)
        ? ["x-api-key", upstream.apiKey]
        : ["authorization", `Bearer ${upstream.apiKey}`]),
    );

  const watch =
    route.protocol !== undefined ? new CallWatcher(callId, route, context, startedAt, t0, sink) : undefined;
  if (watch && decision?.routed) {
    const { routed } = decision;
    watch.routed(
      routed,
      // Handed to the shadow runner with the call: a copy goes to the candidates with the client's own key.
      routed.experiment.status === "shadow" && !routed.shadowOf
        ? { experiment: routed.experiment, secrets: { authorization: authorizationOf(clientHeaders) } }
        : undefined,
    );
  }
  const labels = { upstream: upstream.name, kind: route.protocol ?? "other" };
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

  if (decision) {
    watch?.requestChunk(decision.body, decision.request);
    upstreamReq.end(decision.body);
  } else {
    let received = 0;
    req.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > opts.maxBodyBytes) {
        req.unpipe(upstreamReq);
        upstreamReq.destroy();
        sendJsonError(res, tooLarge(opts.maxBodyBytes), { connection: "close" });
        settle("client_aborted", "request body too large");
        return;
      }
      watch?.requestChunk(chunk);
    });
    req.pipe(upstreamReq);
  }

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
