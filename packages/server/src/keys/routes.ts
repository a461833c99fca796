/** The keys API under `/api` (names: PRODUCT.md, "Names for what comes next"); every route needs `admin`. */
import type { AppContext } from "../context.ts";
import { HttpError } from "../http/error.ts";
import { type RouteTable, route } from "../http/index.ts";
import { createKey, listKeys, revokeKey, viewOf } from "./book.ts";
import type { KeyRing } from "./ring.ts";
import { createdKeySchema, createKeySchema, keyListSchema, keyViewSchema } from "./schemas.ts";

export const keysRoutes = (ctx: AppContext, ring: KeyRing): RouteTable => {
  const { store } = ctx;
  return [
    route({
      method: "post",
      path: "/keys",
      scope: "admin",
      summary: "Create an API key; the answer holds its secret, shown this once",
      body: createKeySchema,
      response: createdKeySchema,
      status: 201,
      handler: async ({ body }) => {
        const unknown = body.upstreams?.find((u) => !ctx.config.upstreams.has(u));
        if (unknown !== undefined)
          throw new HttpError(
            400,
            `upstreams: ${unknown} is not a configured upstream (configured: ${[...ctx.config.upstreams.keys()].join(", ")})`,
            { field: "upstreams" },
          );
        const created = await createKey(store, body);
        // This instance accepts the key as soon as its secret is answered; others at their next reload.
        await ring.refresh();
        ctx.log.info(`keys: created ${created.id} (${created.scopes.join(", ")})`);
        return created;
      },
    }),
    route({
      method: "get",
      path: "/keys",
      scope: "admin",
      summary: "Every API key, revoked ones included, without secrets",
      response: keyListSchema,
      handler: async () => ({ data: (await listKeys(store)).map(viewOf) }),
    }),
    route({
      method: "delete",
      path: "/keys/:id",
      scope: "admin",
      summary:
        "Revoke an API key: it is refused from now on (by other instances within INTERSEBD_KEYS_REFRESH_MS)",
      response: keyViewSchema,
      errors: { 404: "no such key" },
      handler: async ({ params }) => {
        const revoked = await revokeKey(store, params.id);
        await ring.refresh();
        ctx.log.info(`keys: revoked ${revoked.id}`);
        return revoked;
      },
    }),
  ];
};
