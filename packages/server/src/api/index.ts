/**
 * The REST API (`/api/*`) and ops endpoints, as one Hono app. Handlers stay thin: they validate, call a
 * domain, and answer. Errors become JSON in one place (`onError`).
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import type { AppContext } from "../context.ts";
import {
  type AnyRoute,
  HttpError,
  mountRoutes,
  openApiDocument,
  PRINCIPAL,
  type RouteScope,
  type RouteTable,
  refuseNul,
  route,
} from "../http/index.ts";
import { allows, forbidden, KeyRing, type Principal } from "../keys/index.ts";
import { OTLP_TRACES_PATH, otlpTracesOperation } from "../otlp/index.ts";
import { OutageLog, storeUnavailableReason } from "../store/errors.ts";
import { childLogger } from "../util/log.ts";
import { SERVER_VERSION } from "../util/version.ts";

/**
 * Routes that are not a domain's table: `api` is mounted at `/api` (key-protected); `root` is the top-level
 * app, for the web app's pages and assets (and for tests that read the app's routes). Root mounts run after
 * `/api` is in place.
 */
export type RouteMount = (api: Hono, ctx: AppContext, root: Hono) => void;

/**
 * The app: ops endpoints, `/api` (key, limits, then each domain's table and the OpenAPI document generated
 * from those tables), then the root mounts.
 */
export function createApi(
  ctx: AppContext,
  tables: RouteTable[],
  mounts: RouteMount[] = [],
  rootMounts: RouteMount[] = [],
  /** The keys requests are checked against (keys/); by default only `INTERSEBD_API_KEY`, as an admin key. */
  keys: KeyRing = new KeyRing(ctx.config.apiKey),
): Hono {
  const app = new Hono();

  // A database that is down, restarting or locked is not a bug: a 503 that says so, one warn line per outage.
  const storeOutage = new OutageLog("api", childLogger(ctx.log, { component: "api" }));
  app.onError((err, c) => {
    if (err instanceof HttpError) return c.json(err.toJSON(), err.status as 400);
    const unavailable = storeUnavailableReason(err);
    if (unavailable) {
      storeOutage.failed(unavailable);
      c.header("Retry-After", "1");
      const message = `the database is unavailable (${unavailable}); retry shortly`;
      return c.json(new HttpError(503, message, { code: "store_unavailable" }).toJSON(), 503);
    }
    ctx.log.error(`${c.req.method} ${c.req.path}: ${err.stack ?? String(err)}`, { component: "api" });
    return c.json(new HttpError(500, "internal error; the server log has the details").toJSON(), 500);
  });
  app.notFound((c) => c.json(new HttpError(404, `no route ${c.req.method} ${c.req.path}`).toJSON(), 404));

  app.get("/healthz", (c) =>
    c.json({
      status: "ok",
      // Which process answered: with `serve --workers N`, requests to one port go to N of them.
      pid: process.pid,
      store: ctx.store.dialect.name,
      storeReachable: ctx.recorder.storeReachable,
      queueDepth: ctx.recorder.queueDepth,
    }),
  );

  // Who each request is, from the key middleware to the route's scope check (`authorize`), in the request's
  // context (its `Request` object may be replaced on the way, by the body limit).
  const requireKey = async (c: import("hono").Context, next: () => Promise<void>) => {
    // `/api/a/{token}/...` serves annotation links (scope `link`): the signed token is the credential.
    if (keys.enabled && !c.req.path.startsWith("/api/a/")) {
      const bearer = c.req.header("authorization")?.replace(/^Bearer\s+/i, "");
      const who = keys.authenticate(c.req.header("x-intersebd-key") ?? bearer);
      if (who instanceof HttpError) throw who;
      c.set(PRINCIPAL, who);
    }
    await next();
  };
  /** 403 naming the scope when the request's key lacks the one `scope` asks (keys/README.md has the table). */
  const requireScope = (c: import("hono").Context, scope: RouteScope, what: string) => {
    if (scope === "link" || !keys.enabled) return;
    const who: Principal | undefined = c.get(PRINCIPAL);
    // Keys turned on while this request was under way: it was let in without one.
    if (!who)
      throw new HttpError(401, "missing API key: send it as x-intersebd-key or Authorization: Bearer");
    if (!allows(who, scope)) throw forbidden(who, scope, what);
  };
  const authorize = (c: import("hono").Context, r: AnyRoute) =>
    requireScope(c, r.scope, `${r.method.toUpperCase()} /api${r.path}`);

  app.get("/metrics", requireKey, async (c) => {
    requireScope(c, "read", "GET /metrics");
    c.header("content-type", ctx.metrics.registry.contentType);
    return c.body(await ctx.metrics.exposition());
  });

  const api = new Hono();
  api.use("*", requireKey);
  api.use("*", refuseNul); // a NUL in the path or query is a 400 naming it (PostgreSQL cannot compare it)
  const tooLarge = () =>
    new HttpError(413, `request body exceeds ${ctx.config.maxBodyBytes} bytes (INTERSEBD_MAX_BODY_BYTES)`);
  // A declared length is checked before anything opens the body stream. `bodyLimit` alone opens it (to
  // count), so the unread rest of the body is never drained: @hono/node-server then destroys the kept-alive
  // socket 500 ms later, failing whatever request the client sent next on it.
  api.use("*", async (c, next) => {
    if (Number(c.req.header("content-length")) > ctx.config.maxBodyBytes) throw tooLarge();
    await next();
  });
  // `bodyLimit` opens the body stream even when the length is declared (checked above), and a stream opened
  // but never read (an answer that needs no body, such as a 404) is never drained: the kept-alive connection
  // was then closed under the client's next request. So it counts only bodies of no declared length, which
  // it reads whole.
  const limit = bodyLimit({
    maxSize: ctx.config.maxBodyBytes,
    onError: () => {
      throw tooLarge();
    },
  });
  api.use("*", (c, next) =>
    c.req.header("content-length") !== undefined && !c.req.header("transfer-encoding")
      ? next()
      : limit(c, next),
  );
  const routes = tables.flat();
  let openapi: ReturnType<typeof openApiDocument> | undefined;
  routes.push(
    route({
      method: "get",
      path: "/openapi.json",
      scope: ["ingest", "read", "annotate"],
      summary: "This document: every route under /api, generated from the route tables",
      response: z.object({ openapi: z.string(), paths: z.record(z.string(), z.unknown()) }).loose(),
      handler: () => {
        openapi ??= openApiDocument(SERVER_VERSION, routes, "/api", {
          [OTLP_TRACES_PATH]: otlpTracesOperation,
        });
        return openapi;
      },
    }),
  );
  mountRoutes(api, routes, { checkResponses: ctx.config.checkResponses, authorize });
  for (const mount of mounts) mount(api, ctx, app);
  app.route("/api", api);
  for (const mount of rootMounts) mount(api, ctx, app);
  return app;
}
