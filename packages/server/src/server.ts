/**
 * Composes a running intersebd: the store, the write-behind recorder, the proxy (raw `node:http` on the hot
 * path) and the REST API (Hono) behind one port.
 */
import http from "node:http";
import path from "node:path";
import type { Duplex } from "node:stream";
import { getRequestListener } from "@hono/node-server";
import { createApi, type RouteMount } from "./api/index.ts";
import {
  admitCall,
  CallRecorder,
  type Channel,
  pseudonymizeUnbuilt,
  toCallRow,
  unbuiltRow,
  WriterRecorder,
} from "./calls/index.ts";
import { type Composed, compose } from "./compose.ts";
import type { Config } from "./config/index.ts";
import type { AppContext } from "./context.ts";
import { startExperiments } from "./experiments/service.ts";
import { ensureResolutionDepth } from "./graph/index.ts";
import { HttpError } from "./http/index.ts";
import * as keys from "./keys/index.ts";
import { startLimits } from "./limits/index.ts";
import { LiveRules } from "./live/index.ts";
import { countCall, createMetrics } from "./metrics/index.ts";
import { mountTraces } from "./otlp/index.ts";
import { createProxy } from "./proxy/index.ts";
import { openStore } from "./store/index.ts";
import { createBrowserGuard } from "./util/browser-guard.ts";
import { childLogger, createLogger, type Logger } from "./util/log.ts";
import { webRoutes } from "./web/static.ts";
import {
  callInsertHook,
  startWriterThread,
  type ToWriterHost,
  type WriterThread,
  writerSettings,
} from "./writer.ts";

export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:8787`. */
  url: string;
  ctx: AppContext;
  http: http.Server;
  /** The worker that runs evaluation items in this process (the CLI's `eval` drives it). */
  evalWorker: Composed["evalWorker"];
  /** The worker that runs live evaluators' jobs in this process. */
  liveWorker: Composed["liveWorker"];
  /**
   * The REST API and the web app in-process, without the socket: what the port answers outside the proxy, minus
   * the browser guard that runs before it in the `node:http` listener (util/browser-guard.test.ts tests that
   * through the socket). Handler tests use it so that they hold no port and run in parallel.
   */
  fetch(request: Request): Promise<Response>;
  /** Stops accepting requests, drains the capture queue, closes the store. */
  close(): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  /** Extra route groups (tests and plugins); the built-in domains are always mounted. */
  mounts?: RouteMount[];
  /**
   * The writer this server hands its calls to, elsewhere: a worker of `serve --workers N` on SQLite gets its
   * primary's (cli/workers.ts). Unset: a writer thread on SQLite, the event loop itself on PostgreSQL.
   * `inline`: this loop writes on SQLite too (tests that take the store away under the recorder, by closing
   * `ctx.store`).
   */
  writer?: Channel<ToWriterHost> | "inline";
}

export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  const log = opts.log ?? createLogger(config.logLevel, undefined, config.logFormat);
  const store = await openStore(config.db);
  await ensureResolutionDepth(store, config.linkDepth, log);
  const metrics = createMetrics();
  // Before the recorder, whose inserts enqueue the new calls' live evaluation jobs from its first batch.
  const liveRules = new LiveRules(store, childLogger(log, { component: "live" }));
  await liveRules.refresh();
  const recorderLog = childLogger(log, { component: "recorder" });
  const spoolDir = path.join(config.dataDir, "spool");
  // SQLite commits and checkpoints are synchronous: a writer thread does them, off the proxy's loop
  // (calls/writer.ts). A `:memory:` database is this connection's alone, so it stays here. PostgreSQL writes
  // from this loop: its driver is asynchronous, so a commit waits on a socket, never on the loop, and a second
  // isolate would cost about 28 MB per process for CPU the proxy does not miss there.
  let writerThread: WriterThread | undefined;
  let writer = opts.writer === "inline" ? undefined : opts.writer;
  const journalInstance = `${process.pid}-${Date.now()}`;
  if (!opts.writer && config.db.kind === "sqlite" && config.db.file !== ":memory:") {
    writerThread = await startWriterThread(writerSettings(config, journalInstance), log);
    writer = writerThread.channel;
  }
  let recorder: CallRecorder | WriterRecorder;
  if (writer) {
    const channel = writer;
    await store.yieldToWriter();
    const remote = new WriterRecorder(
      channel,
      {
        journalInstance,
        spoolDir,
        rejectedDir: config.dataDir,
        queueMax: config.queueMax,
        batchSize: config.batchSize,
      },
      metrics,
      recorderLog,
    );
    // The writer runs the insert hook, whose live evaluators' rules are refreshed here (and after a change
    // through this API, before it answers): each refresh goes to the writer, ahead of any later call.
    liveRules.onRefresh((rules) => channel.post({ t: "rules", rules }));
    writerThread?.onRestart(() => {
      channel.post({ t: "rules", rules: liveRules.rules });
      remote.resend();
    });
    writerThread?.watchBacklog(() => remote.oldestUnstoredMs);
    recorder = remote;
  } else {
    const local = new CallRecorder(
      store,
      {
        spoolDir,
        rejectedDir: config.dataDir,
        queueMax: config.queueMax,
        flushMs: config.flushMs,
        batchSize: config.batchSize,
        insertHook: callInsertHook(store.dialect.name, config.linkDepth, liveRules),
        faultInject: config.faultInject,
      },
      metrics,
      recorderLog,
    );
    await local.start();
    recorder = local;
  }
  const closers: Array<() => Promise<void> | void> = [];
  const statistics = setInterval(() => {
    store
      .optimize()
      .catch((err: unknown) =>
        log.warn(`refreshing store statistics: ${String(err)}`, { component: "store" }),
      );
  }, 10 * 60_000);
  statistics.unref();
  closers.push(() => clearInterval(statistics));
  let listeningUrl = `http://${config.host}:${config.port}`;
  const ctx: AppContext = {
    config,
    store,
    recorder,
    metrics,
    log,
    baseUrl: () => config.publicUrl ?? listeningUrl,
    onClose: (fn) => closers.push(fn),
  };

  // Before the proxy, which routes by its live view from the first request.
  const experiments = await startExperiments(ctx);
  closers.push(() => experiments.stop());
  // Before the proxy and the API, which check every request against it.
  const keyRing = await keys.start(ctx);
  const proxyLog = childLogger(log, { component: "proxy" });
  const limits = await startLimits(config.rateLimits, {
    log: childLogger(log, { component: "limits" }),
    registry: metrics.registry,
    // A stored key is limited by its id (a rule may name it: key:<id>=...); any other by a hash of it.
    keyId: (key) => {
      const who = keyRing.authenticate(key);
      return who instanceof HttpError ? undefined : who.id;
    },
  });
  if (limits) closers.push(() => limits.close());
  const proxy = createProxy({
    upstreams: config.upstreams,
    apiKey: config.apiKey,
    limits,
    authorize: (key, upstream) => keyRing.authorizeProxy(key, upstream),
    maxBodyBytes: config.maxBodyBytes,
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    metrics,
    experiments: experiments.live,
    onRoutingBug: (err) =>
      proxyLog.error(`experiments: routing failed, request forwarded unrouted: ${String(err)}`),
    onCall: (call, shadow) => {
      // Sampled out (counted in /metrics, not stored, not shadowed), or with its user ids hashed and config stamped.
      const kept = admitCall(config, metrics, call);
      if (!kept) return;
      const row = toCallRow(kept, config.capture, config.redactPatterns);
      // Ids, names and numbers only: never a body, a header or a user id (they may be secrets or personal).
      proxyLog.debug("call", {
        callId: row.id,
        upstream: row.upstream,
        model: row.requestedModel,
        status: row.status,
        outcome: row.outcome,
        durationMs: row.durationMs,
      });
      recorder.record(row);
      countCall(metrics, row);
      if (shadow) experiments.offerShadow(call, shadow.experiment, shadow.secrets);
    },
    onRejected: (call, err) =>
      recorder.setAside(
        call.id,
        "unbuildable",
        err,
        unbuiltRow(pseudonymizeUnbuilt(config, call), config.capture, config.redactPatterns),
      ),
  });
  // The domains' workers start here, once; mounting their tables starts nothing.
  const domains = compose(ctx, { experimentsChanged: experiments.changed, liveRules, keys: keyRing });
  closers.push(() => domains.stop());
  const api = createApi(
    ctx,
    domains.tables,
    opts.mounts,
    // OTLP exporters post to a fixed `/v1/traces`, beside `/api` (the proxy leaves that path to it).
    [(_api, _ctx, root) => mountTraces(root, ctx, keyRing), (_api, _ctx, root) => webRoutes(root)],
    keyRing,
  );
  const apiListener = getRequestListener(api.fetch);

  const guard = createBrowserGuard(config);
  const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    if (!guard(req, res)) return;
    if (!proxy(req, res)) void apiListener(req, res);
  });
  answerUnparsedRequests(server);
  // Long streams are normal here; Node's default request timeout (5 min) would cut them.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => resolve());
  }).catch(async (err: unknown) => {
    // The writer thread would keep a process that could not listen (the port is taken) from exiting.
    await writerThread?.stop();
    throw err;
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : config.port;
  const host = config.host.includes(":") && !config.host.startsWith("[") ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;
  listeningUrl = url;

  let closing: Promise<void> | undefined;
  return {
    url,
    ctx,
    http: server,
    evalWorker: domains.evalWorker,
    liveWorker: domains.liveWorker,
    fetch: async (request) => api.fetch(request),
    close: () => {
      closing ??= (async () => {
        // Background workers first: an evaluation's in-flight calls go through this server's own proxy.
        for (const fn of closers.reverse()) await fn();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await recorder.close();
        await writerThread?.stop();
        await store.close();
      })();
      return closing;
    },
  };
}

/**
 * Requests that never reach the request listener get a JSON answer instead of a bare connection reset:
 * `CONNECT` (this is not a forward proxy; without a `connect` listener Node just drops the socket) and anything
 * Node's HTTP parser refuses (a malformed request line or header, headers too large, a request timeout).
 */
function answerUnparsedRequests(server: http.Server): void {
  const answer = (
    socket: Duplex,
    status: number,
    reason: string,
    message: string,
    code: string,
    headOnly = false,
  ) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    // An answer to HEAD has no body: a client reads one as garbage after the response ("data after close").
    const body = headOnly ? "" : JSON.stringify(new HttpError(status, message, { code }));
    // Closed once the answer is handed to the kernel, which still sends it: a client that never closes its
    // end holds no socket here.
    socket.once("finish", () => socket.destroy());
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  };
  server.on("connect", (_req: http.IncomingMessage, socket: Duplex) => {
    answer(
      socket,
      405,
      "Method Not Allowed",
      "CONNECT is not supported: intersebd is not a forward proxy (send requests to /v1/... on this server)",
      "method_not_allowed",
    );
  });
  server.on("clientError", (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex) => {
    if (err.code === "ECONNRESET") {
      socket.destroy();
      return;
    }
    const respond = () => answerClientError(err, socket);
    const inFlight = (socket as Duplex & { _httpMessage?: http.ServerResponse })._httpMessage;
    if (!inFlight || inFlight.writableFinished) respond();
    else if (inFlight.req.complete) {
      // The failure is the next request's, pipelined or kept alive after one still being answered: its answer
      // goes after that one's, once complete, never into the middle of it (or before it).
      inFlight.once("finish", respond);
      inFlight.once("close", () => {
        if (!inFlight.writableFinished) socket.destroy();
      });
    } else if (inFlight.headersSent) socket.destroy();
    // The request being answered is the one that broke (a malformed chunked body): this is its answer.
    else respond();
  });
  const answerClientError = (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex) => {
    const head = err.rawPacket?.subarray(0, 5).toString("latin1") === "HEAD ";
    if (err.code === "HPE_HEADER_OVERFLOW")
      answer(
        socket,
        431,
        "Request Header Fields Too Large",
        "request headers are too large",
        "headers_too_large",
        head,
      );
    else if (err.code === "ERR_HTTP_REQUEST_TIMEOUT")
      answer(socket, 408, "Request Timeout", "the request was not received in time", "request_timeout", head);
    else answer(socket, 400, "Bad Request", "malformed HTTP request", "bad_request", head);
  };
}
