import { Hono } from "hono";
import {
  callFilterSchema,
  findCall,
  ingestCallSchema,
  ingestCalls,
  listCalls,
  pageSchema,
  toCallView,
} from "../calls/index.ts";
import type { AppContext } from "../context.ts";
import { HttpError } from "../util/http-error.ts";
import { oneOrBatch, queryOf } from "./validate.ts";

export function callRoutes(ctx: AppContext) {
  const { store, recorder, config } = ctx;
  return new Hono()
    .get("/", async (c) => {
      const filter = queryOf(c, callFilterSchema);
      const page = queryOf(c, pageSchema);
      return c.json(await listCalls(store, filter, page));
    })
    .get("/:id", async (c) => {
      const row = await findCall(store, c.req.param("id"));
      if (!row)
        throw new HttpError(404, `no call with id or completion id "${c.req.param("id")}"`, { field: "id" });
      return c.json(toCallView(row, true));
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
