import { z } from "zod";
import type { AppContext } from "../context.ts";
import { type RouteTable, route } from "../http/index.ts";
import { queryTimestamp } from "../util/bounds.ts";
import {
  configChanges,
  configChangesSchema,
  type StatusWorkers,
  statusSchema,
  statusView,
} from "./status.ts";

const changesQuery = z.object({
  from: queryTimestamp("from").optional().describe("calls started at or after this (ms or ISO 8601)"),
  to: queryTimestamp("to").optional().describe("calls started before this"),
});

/** `GET /api/status` and `GET /api/status/config-changes`. */
export const opsRoutes = (ctx: AppContext, workers: StatusWorkers): RouteTable => [
  route({
    method: "get",
    path: "/status",
    scope: "read",
    summary:
      "The runtime's shape: version, store, capture mode, upstream names, config hash, queue, spool, jobs",
    response: statusSchema,
    handler: () => statusView(ctx, workers),
  }),
  route({
    method: "get",
    path: "/status/config-changes",
    scope: "read",
    summary: "Each configuration hash the stored calls carry, with when it was first and last seen",
    query: changesQuery,
    response: configChangesSchema,
    handler: ({ query }) => configChanges(ctx, query),
  }),
];
