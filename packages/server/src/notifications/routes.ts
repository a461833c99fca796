import { z } from "zod";
import { type RouteMount, SERVER_VERSION } from "../api/index.ts";
import { jsonBody, oneOrBatch, parseOrThrow, queryOf } from "../api/validate.ts";
import { notificationSchema } from "../graph/schemas.ts";
import { text } from "../util/bounds.ts";
import { HttpError } from "../util/http-error.ts";
import {
  ANNOTATOR_REFUSED,
  answersSchema,
  answerTask,
  createNotifications,
  getNotification,
  getRubric,
  getSession,
  listNotifications,
  listRubrics,
  listSessions,
  listStatuses,
  notify,
  openTask,
  putRubric,
  reviewQueue,
  revokeNotification,
  rubricSchema,
  settingsView,
} from "./index.ts";

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
const reviewQuery = z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) });
const sessionsQuery = z.object({
  cursor: text(4000).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

/**
 * Notifications, annotation links (`/a/{token}`, no API key: the token is the credential), rubrics, and the
 * web app's review queue, sessions and settings, under `/api`.
 */
export const notificationsRoutes: RouteMount = (api, ctx) => {
  const { deps, ready } = createNotifications(ctx);
  const { store } = ctx;

  api.post("/notifications", async (c) => {
    const { items, batch } = await oneOrBatch(c, notificationSchema);
    await ready;
    const out = await notify(deps, items, batch);
    return c.json(batch ? { data: out } : out[0], 201);
  });
  api.get("/notifications", async (c) => c.json(await listNotifications(deps, queryOf(c, listQuery))));
  api.get("/notifications/:id", async (c) => c.json(await getNotification(deps, c.req.param("id"))));
  api.post("/notifications/:id/revoke", async (c) =>
    c.json(await revokeNotification(deps, c.req.param("id"))),
  );

  api.get("/a/:token", async (c) => {
    await ready;
    return c.json(await openTask(ctx, deps, c.req.param("token")));
  });
  api.post("/a/:token/answers", async (c) => {
    const body = await jsonBody(c);
    // Named before the schema's generic "unknown field": a link answers as its recipient, never as the client says.
    if (body !== null && typeof body === "object" && Object.hasOwn(body, "annotatorId")) {
      throw new HttpError(400, ANNOTATOR_REFUSED, { field: "annotatorId" });
    }
    const input = parseOrThrow(answersSchema, body);
    await ready;
    return c.json(await answerTask(ctx, deps, c.req.param("token"), input), 201);
  });

  api.get("/rubrics", async (c) => {
    await ready;
    return c.json({ data: await listRubrics(store) });
  });
  api.get("/rubrics/:name", async (c) => {
    await ready;
    const name = c.req.param("name");
    const r = await getRubric(store, name);
    if (!r) throw new HttpError(404, `no rubric named "${name}"`, { field: "name" });
    return c.json(r);
  });
  api.put("/rubrics/:name", async (c) => {
    const name = c.req.param("name");
    const body = await jsonBody(c);
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      throw new HttpError(400, "body must be a rubric object: { name?, description?, fields: [...] }");
    }
    const given = (body as { name?: unknown }).name;
    if (given !== undefined && given !== name) {
      throw new HttpError(
        400,
        `body field name: "${String(given)}" differs from the name in the path "${name}"`,
        {
          field: "name",
        },
      );
    }
    const rubric = parseOrThrow(rubricSchema, { ...body, name });
    await ready;
    return c.json(await putRubric(store, rubric));
  });

  api.get("/review-queue", async (c) =>
    c.json({ data: await reviewQueue(store, queryOf(c, reviewQuery).limit) }),
  );
  api.get("/sessions", async (c) => c.json(await listSessions(store, queryOf(c, sessionsQuery))));
  api.get("/sessions/:id", async (c) => c.json(await getSession(store, c.req.param("id"))));
  api.get("/settings", (c) => c.json(settingsView(ctx.config, SERVER_VERSION)));
};
