import { Hono } from "hono";
import { callListQuerySchema, ingestCallSchema, ingestCalls, listCalls } from "../calls/index.ts";
import type { AppContext } from "../context.ts";
import { callDetail } from "../graph/index.ts";
import { notificationsOf } from "../notifications/index.ts";
import { HttpError } from "../util/http-error.ts";
import { oneOrBatch, queryOf } from "./validate.ts";

export function callRoutes(ctx: AppContext) {
  const { store, recorder, config } = ctx;
  return new Hono()
    .get("/", async (c) => {
      const { cursor, limit, ...filter } = queryOf(c, callListQuerySchema);
      return c.json(await listCalls(store, filter, { cursor, limit }));
    })
    .get("/:id", async (c) => {
      const detail = await callDetail(ctx, c.req.param("id"));
      if (!detail)
        throw new HttpError(404, `no call with id or completion id "${c.req.param("id")}"`, { field: "id" });
      const notifications = await notificationsOf(store, [detail.id, detail.completionId ?? detail.id]);
      return c.json({ ...detail, notifications });
    })
    .post("/", async (c) => {
      const { items, batch } = await oneOrBatch(c, ingestCallSchema);
      const r = await ingestCalls(store, recorder, items, config.capture, config.redactPatterns);
      // 202: accepted into the spool because the store is down; it will be stored once it answers.
      const status = r.stored ? 201 : 202;
      return c.json(
        batch ? { data: r.items, stored: r.stored } : { ...r.items[0], stored: r.stored },
        status,
      );
    });
}
