import type { AppContext } from "../context.ts";
import { oneOrData, type RouteTable, route } from "../http/index.ts";
import { insertAnnotations, insertComparisons } from "./annotations.ts";
import { tagDetail } from "./detail.ts";
import { insertLinks } from "./links.ts";
import {
  annotationsStoredSchema,
  comparisonsStoredSchema,
  linksAcceptedSchema,
  tagDetailSchema,
} from "./responses.ts";
import { annotationSchema, comparisonSchema, linkSchema } from "./schemas.ts";

/** Links, annotations, comparisons and tags under `/api`. */
export const graphRoutes = (ctx: AppContext): RouteTable => {
  const { store, config } = ctx;
  return [
    route({
      method: "post",
      path: "/links",
      scope: "ingest",
      summary: "Link an upstream tag to a downstream tag",
      body: linkSchema,
      bodyMode: "batch",
      status: 201,
      response: linksAcceptedSchema,
      describe: "accepted (one link is echoed back; a batch answers `{ accepted: n }`)",
      handler: async ({ body: { items, batch } }) => {
        await insertLinks(store, items, config.linkDepth);
        return batch ? { accepted: items.length } : { accepted: 1, ...items[0] };
      },
    }),
    route({
      method: "post",
      path: "/annotations",
      scope: ["ingest", "annotate"],
      summary: "Annotate a tag",
      body: annotationSchema,
      bodyMode: "batch",
      status: 201,
      response: annotationsStoredSchema,
      describe: "stored (a batch answers `{ data: [...] }`)",
      handler: async ({ body: { items, batch } }) => {
        const stored = await insertAnnotations(store, items, config.linkDepth);
        return oneOrData(stored, batch);
      },
    }),
    route({
      method: "post",
      path: "/comparisons",
      scope: "annotate",
      summary: "Store a pairwise choice between two tags",
      body: comparisonSchema,
      bodyMode: "batch",
      status: 201,
      response: comparisonsStoredSchema,
      describe: "stored (a batch answers `{ data: [...] }`)",
      handler: async ({ body: { items, batch } }) => {
        const stored = await insertComparisons(store, items);
        return oneOrData(stored, batch);
      },
    }),
    route({
      method: "get",
      path: "/tags/:tag",
      scope: "read",
      summary: "A tag's calls (upstream), links both ways, and annotations",
      response: tagDetailSchema,
      handler: ({ params }) => tagDetail(ctx, params.tag),
    }),
  ];
};
