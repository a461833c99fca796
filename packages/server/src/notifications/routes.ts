import { z } from "zod";
import type { AppContext } from "../context.ts";
import { HttpError, oneOrData, type RouteTable, route } from "../http/index.ts";
import { parseOrThrow } from "../http/validate.ts";
import { text } from "../util/bounds.ts";
import { ANNOTATOR_REFUSED, answersSchema, answerTask, openTask } from "./annotate.ts";
import { getNotification, listNotifications, listStatuses, notify, revokeNotification } from "./inbox.ts";
import { reviewQueueRoutes } from "./queue-routes.ts";
import {
  annotateTaskSchema,
  answerResultSchema,
  inboxPageSchema,
  notificationWithUrlSchema,
  notifiedSchema,
  rubricViewSchema,
} from "./responses.ts";
import { getRubric, listRubrics, putRubric, rubricSchema } from "./rubrics.ts";
import { notificationSchema } from "./schemas.ts";
import type { NotificationsService } from "./start.ts";

const listQuery = z.object({
  recipient: text(500, { min: 1 }).optional(),
  completionId: text(20_000)
    .transform((v) =>
      v
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean)
        .slice(0, 100),
    )
    .optional()
    .describe("only notifications about these tags, comma-separated (e.g. a call's id and completion id)"),
  status: z.enum(listStatuses, { error: `status must be one of ${listStatuses.join(", ")}` }).optional(),
  cursor: text(4000).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/**
 * Notifications, annotation links (`/a/{token}`, no API key: the token is the credential) and rubrics, under
 * `/api`. `service` is what `start` set up (the rubrics file loading, the webhook worker).
 */
export const notificationsRoutes = (ctx: AppContext, service: NotificationsService): RouteTable => {
  const { deps, ready } = service;
  const { store } = ctx;
  return [
    route({
      method: "post",
      path: "/notifications",
      scope: "ingest",
      summary: "Ask a person to judge a call",
      body: notificationSchema,
      bodyMode: "batch",
      status: 201,
      response: notifiedSchema,
      describe: "stored, with its link (a batch answers `{ data: [...] }`)",
      handler: async ({ body: { items, batch } }) => {
        await ready;
        return oneOrData(await notify(deps, items, batch), batch);
      },
    }),
    route({
      method: "get",
      path: "/notifications",
      scope: "read",
      summary: "The inbox: notifications newest first, with their links, the calls' previews and the counts",
      query: listQuery,
      response: inboxPageSchema,
      handler: ({ query }) => listNotifications(deps, query),
    }),
    route({
      method: "get",
      path: "/notifications/:id",
      scope: "read",
      summary: "One notification, with its link and its webhook delivery",
      response: notificationWithUrlSchema,
      errors: { 404: "no such notification" },
      handler: ({ params }) => getNotification(deps, params.id),
    }),
    route({
      method: "post",
      path: "/notifications/:id/revoke",
      scope: "admin",
      summary: "Revoke a notification's link",
      response: notificationWithUrlSchema,
      errors: { 404: "no such notification" },
      handler: ({ params }) => revokeNotification(deps, params.id),
    }),
    route({
      method: "get",
      path: "/a/:token",
      scope: "link",
      summary:
        "What an annotation link shows: one item's message, state, conversation and rubric, nothing else (no API key: the token is the credential)",
      response: annotateTaskSchema,
      errors: { 401: "invalid token", 410: "expired or revoked" },
      handler: async ({ params }) => {
        await ready;
        return openTask(ctx, deps, params.token);
      },
    }),
    route({
      method: "post",
      path: "/a/:token/answers",
      scope: "link",
      summary: "Answer a notification: one annotation per rubric field",
      body: answersSchema,
      bodyMode: "raw",
      status: 201,
      response: answerResultSchema,
      errors: { 401: "invalid token", 410: "expired or revoked" },
      handler: async ({ params, body }) => {
        // Named before the schema's generic "unknown field": a link answers as its recipient, never as the client says.
        if (body !== null && typeof body === "object" && Object.hasOwn(body, "annotatorId")) {
          throw new HttpError(400, ANNOTATOR_REFUSED, { field: "annotatorId" });
        }
        const input = parseOrThrow(answersSchema, body);
        await ready;
        return answerTask(ctx, deps, params.token, input);
      },
    }),
    route({
      method: "get",
      path: "/rubrics",
      scope: "read",
      summary:
        "Rubrics (named feedback forms): the default, the rubrics file's and those put through the API",
      response: z.object({ data: z.array(rubricViewSchema) }),
      handler: async () => {
        await ready;
        return { data: await listRubrics(store) };
      },
    }),
    route({
      method: "get",
      path: "/rubrics/:name",
      scope: "read",
      summary: "One rubric",
      response: rubricViewSchema,
      errors: { 404: "no such rubric" },
      handler: async ({ params: { name } }) => {
        await ready;
        const r = await getRubric(store, name);
        if (!r) throw new HttpError(404, `no rubric named "${name}"`, { field: "name" });
        return r;
      },
    }),
    route({
      method: "put",
      path: "/rubrics/:name",
      scope: "admin",
      summary: "Create or replace a rubric (a named feedback form)",
      body: rubricSchema,
      bodyMode: "raw",
      response: rubricViewSchema,
      handler: async ({ params: { name }, body }) => {
        if (body === null || typeof body !== "object" || Array.isArray(body)) {
          throw new HttpError(400, "body must be a rubric object: { name?, description?, fields: [...] }");
        }
        const given = (body as { name?: unknown }).name;
        if (given !== undefined && given !== name) {
          throw new HttpError(
            400,
            `body field name: "${String(given)}" differs from the name in the path "${name}"`,
            { field: "name" },
          );
        }
        const rubric = parseOrThrow(rubricSchema, { ...body, name });
        await ready;
        return putRubric(store, rubric);
      },
    }),
    ...reviewQueueRoutes(service),
  ];
};
