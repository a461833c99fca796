/** Review queues under `/api`: several reviewers per item, their progress and their agreement (queues.ts). */
import { z } from "zod";
import { HttpError, type RouteTable, route } from "../http/index.ts";
import { reviewQueueSummarySchema, reviewQueueViewSchema } from "./queue-responses.ts";
import { createReviewQueue, createReviewQueueSchema, getReviewQueue, listReviewQueues } from "./queues.ts";
import type { NotificationsService } from "./start.ts";

const listQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) });

export const reviewQueueRoutes = (service: NotificationsService): RouteTable => {
  const { deps, ready } = service;
  return [
    route({
      method: "post",
      path: "/review-queues",
      scope: "admin",
      summary:
        "Give items (a dataset, call ids or a sample) to several reviewers each: one notification per reviewer per item",
      body: createReviewQueueSchema,
      status: 201,
      response: reviewQueueViewSchema,
      describe: "the queue, with its progress (nothing answered yet)",
      handler: async ({ body }) => {
        await ready;
        return createReviewQueue(deps, body);
      },
    }),
    route({
      method: "get",
      path: "/review-queues",
      scope: "read",
      summary: "Review queues, newest first, with how many assignments are answered",
      query: listQuery,
      response: z.object({ data: z.array(reviewQueueSummarySchema) }),
      handler: async ({ query }) => ({ data: await listReviewQueues(deps.store, query.limit) }),
    }),
    route({
      method: "get",
      path: "/review-queues/:id",
      scope: "read",
      summary:
        "One review queue: progress per reviewer, agreement per field (Krippendorff's alpha; Cohen's kappa for two) with intervals, and the items reviewers disagree on",
      response: reviewQueueViewSchema,
      errors: { 404: "no such queue" },
      handler: async ({ params }) => {
        await ready;
        const q = await getReviewQueue(deps.store, params.id);
        if (!q) throw new HttpError(404, `no review queue with id "${params.id}"`, { field: "id" });
        return q;
      },
    }),
  ];
};
