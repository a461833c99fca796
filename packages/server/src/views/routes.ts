import { z } from "zod";
import type { AppContext } from "../context.ts";
import { type RouteTable, route } from "../http/index.ts";
import { queryTimestamp, text } from "../util/bounds.ts";
import { SERVER_VERSION } from "../util/version.ts";
import { floorPageSchema, listFloor } from "./floor.ts";
import { judgesRoutes } from "./judges.ts";
import {
  reviewQueueSchema,
  sessionDetailSchema,
  sessionsPageSchema,
  settingsViewSchema,
} from "./responses.ts";
import { reviewQueue } from "./review.ts";
import { reviewClusters } from "./review-clusters.ts";
import { getSession, listSessions } from "./sessions.ts";
import { settingsView, storeView } from "./settings.ts";

const reviewQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  examples: z.coerce.number().int().min(1).max(50).default(3).describe("calls shown per cluster"),
});
const sessionsQuery = z.object({
  cursor: text(4000).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

const floorQuery = z.object({
  flag: text(200, { min: 1, trim: true, what: "flag" })
    .optional()
    .describe("only calls flagged with this flag"),
  from: queryTimestamp("from").optional().describe("the call started at or after this (ms or ISO 8601)"),
  to: queryTimestamp("to").optional().describe("the call started before this"),
  cursor: text(4000).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

/** The web app's review queue, sessions and settings under `/api`. */
export const viewsRoutes = (ctx: AppContext): RouteTable => {
  const { store } = ctx;
  return [
    route({
      method: "get",
      path: "/review-queue",
      scope: "read",
      summary:
        "Calls worth a person's look (errors, low rewards, schema failures, slow, a random sample), not yet judged by one",
      query: reviewQuery,
      response: reviewQueueSchema,
      handler: async ({ query }) => {
        const [data, clusters] = await Promise.all([
          reviewQueue(store, query.limit),
          reviewClusters(store, { limit: query.limit, examples: query.examples }),
        ]);
        return { data, clusters };
      },
    }),
    route({
      method: "get",
      path: "/sessions",
      scope: "read",
      summary: "Sessions, most recently active first",
      query: sessionsQuery,
      response: sessionsPageSchema,
      handler: ({ query }) => listSessions(store, query),
    }),
    route({
      method: "get",
      path: "/sessions/:id",
      scope: "read",
      summary: "One session's calls, oldest first, with their bodies up to a budget",
      response: sessionDetailSchema,
      errors: { 404: "no such session" },
      handler: ({ params }) => getSession(store, params.id),
    }),
    route({
      method: "get",
      path: "/floor",
      scope: "read",
      summary:
        "Calls a floor check flagged (moderation or a floor judge), newest first, with each flag's excerpt and the checker",
      query: floorQuery,
      response: floorPageSchema,
      handler: ({ query }) => listFloor(store, query),
    }),
    route({
      method: "get",
      path: "/settings",
      scope: "read",
      summary: "How this server is configured, every secret left out",
      response: settingsViewSchema,
      handler: async () => settingsView(ctx.config, SERVER_VERSION, await storeView(store, ctx.config)),
    }),
    ...judgesRoutes(store),
  ];
};
