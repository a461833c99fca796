/** The erasure API under `/api` (names: PRODUCT.md, "Names for what comes next"); every route needs `admin`. */
import type { Context } from "hono";
import { storedUserId } from "../calls/pseudonym.ts";
import type { AppContext } from "../context.ts";
import { HttpError } from "../http/error.ts";
import { principalOf, type RouteTable, route } from "../http/index.ts";
import { listAudit } from "./audit.ts";
import { erase, type SelectorKind } from "./erase.ts";
import { auditListSchema, auditQuerySchema, eraseQuerySchema, erasureResultSchema } from "./schemas.ts";

/**
 * Who asked, for the audit row: the API key's name, or `admin` for INTERSEBD_API_KEY and for a server without
 * keys. The key middleware (api/index.ts) sets `principal` on the request's context.
 */
export function actorOf(c: Context): string {
  const who = principalOf(c);
  return who && who.id !== "env" ? who.name : "admin";
}

const described = {
  errors: { 400: "an empty selector" },
  describe:
    "Counts per kind of what was erased (or, with dryRun, would be); the audit row's id (GET /api/audit)",
};

export const erasureRoutes = (ctx: AppContext): RouteTable => {
  const run = async (c: Context, kind: SelectorKind, raw: string, dryRun: boolean, field: string) => {
    if (raw === "") throw new HttpError(400, `${field}: must not be empty`, { field });
    // The store holds a hashed user id when INTERSEBD_HASH_USER_IDS is on: erase what it holds.
    const value = kind === "userId" ? storedUserId(ctx.config, raw) : raw;
    // Calls answered before the request but still on their way to the store (the write-behind queue) are erased
    // with the rest, not inserted after it.
    await ctx.recorder.flush();
    return erase(
      ctx.store,
      { kind, value },
      {
        maxDepth: ctx.config.linkDepth,
        actor: actorOf(c),
        dryRun,
        vacuum: ctx.config.erasureVacuum,
        warn: (m) => ctx.log.warn(m),
      },
    );
  };
  return [
    route({
      method: "delete",
      path: "/users/:userId",
      scope: "admin",
      summary: "Erase every call of a user id, and what only concerns them (erasure/README.md)",
      query: eraseQuerySchema,
      response: erasureResultSchema,
      ...described,
      handler: ({ c, params, query }) => run(c, "userId", params.userId, query.dryRun, "userId"),
    }),
    route({
      method: "delete",
      path: "/sessions/:sessionId",
      scope: "admin",
      summary: "Erase every call of a session id, and what only concerns them",
      query: eraseQuerySchema,
      response: erasureResultSchema,
      ...described,
      handler: ({ c, params, query }) => run(c, "sessionId", params.sessionId, query.dryRun, "sessionId"),
    }),
    route({
      method: "delete",
      path: "/tags/:tag",
      scope: "admin",
      summary:
        "Erase every call a tag names (its id, completion id or one of its tags), and what only concerns them",
      query: eraseQuerySchema,
      response: erasureResultSchema,
      ...described,
      handler: ({ c, params, query }) => run(c, "tag", params.tag, query.dryRun, "tag"),
    }),
    route({
      method: "get",
      path: "/audit",
      scope: "admin",
      summary:
        "The audit log: each erasure's actor, time, selector kind and hash, and counts (never content)",
      query: auditQuerySchema,
      response: auditListSchema,
      handler: ({ query }) => listAudit(ctx.store, query),
    }),
  ];
};
