import type { RouteMount } from "../api/index.ts";
import { oneOrBatch } from "../api/validate.ts";
import { insertAnnotations, insertComparisons, insertLinks, tagDetail } from "./index.ts";
import { annotationSchema, comparisonSchema, linkSchema } from "./schemas.ts";

/** Links, annotations, comparisons and tags under `/api`. */
export const graphRoutes: RouteMount = (api, ctx) => {
  const { store, config } = ctx;
  api.post("/links", async (c) => {
    const { items, batch } = await oneOrBatch(c, linkSchema);
    await insertLinks(store, items, config.linkDepth);
    return c.json(batch ? { accepted: items.length } : { accepted: 1, ...items[0] }, 201);
  });
  api.post("/annotations", async (c) => {
    const { items, batch } = await oneOrBatch(c, annotationSchema);
    const stored = await insertAnnotations(store, items, config.linkDepth);
    return c.json(batch ? { data: stored } : stored[0], 201);
  });
  api.post("/comparisons", async (c) => {
    const { items, batch } = await oneOrBatch(c, comparisonSchema);
    const stored = await insertComparisons(store, items);
    return c.json(batch ? { data: stored } : stored[0], 201);
  });
  api.get("/tags/:tag", async (c) => c.json(await tagDetail(ctx, c.req.param("tag"))));
};
