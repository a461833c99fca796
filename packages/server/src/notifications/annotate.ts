/**
 * The annotation page's server side (`/api/a/{token}`): one notification opened by its signed token, and the
 * answers to its rubric stored as annotations (`source: "human"`, the recipient as annotator).
 *
 * Answering is idempotent per notification and field: each answer is stored as the annotation with id
 * `{notificationId}:{field}`, so a re-submitted form never duplicates an annotation and never overwrites the
 * first answer to a field; an answered (done) item can still receive answers to fields it has none for yet.
 */
import { z } from "zod";
import type { AppContext } from "../context.ts";
import {
  type AnnotationInput,
  type AnnotationView,
  type CallDetail,
  callDetail,
  callIdsOfTag,
  correctionSchema,
  insertAnnotations,
} from "../graph/index.ts";
import { HttpError } from "../util/http-error.ts";
import {
  findNotification,
  linkOf,
  markDone,
  type NotificationsDeps,
  type NotificationView,
  siblingsOf,
  toNotificationView,
} from "./inbox.ts";
import { DEFAULT_RUBRIC, getRubric, type RubricField, type RubricView } from "./rubrics.ts";
import { verifyToken } from "./tokens.ts";

export interface AnnotateTask {
  notification: NotificationView & { url: string };
  /** The call with its annotations, links and comparisons; null while it is not stored (yet). */
  call: CallDetail | null;
  rubric: RubricView;
  /** Tokens of the recipient's other open items, for `j`/`k`. */
  siblings: { next: string | null; previous: string | null };
}

/**
 * The notification a token opens, checked: signature, expiry, existence, revocation.
 * @throws HttpError 401 (invalid or unknown), 410 (expired or revoked)
 */
async function open(deps: NotificationsDeps, token: string) {
  const claims = verifyToken(await deps.key(), token);
  const row = await findNotification(deps.store, claims.n);
  // The token binds the expiry too: one for the same id with another expiry was not issued for this row.
  if (!row || row.expiresAt !== claims.exp) {
    throw new HttpError(401, "this link is not valid: the item it was made for does not exist here", {
      code: "invalid_token",
    });
  }
  if (row.status === "revoked") {
    throw new HttpError(
      410,
      `this link was revoked on ${new Date(row.revokedAt ?? 0).toISOString()}; ask for a new one`,
      { code: "link_revoked" },
    );
  }
  if (row.status === "open" && row.expiresAt <= Date.now()) {
    throw new HttpError(
      410,
      `this link expired on ${new Date(row.expiresAt).toISOString()}; ask for a new one`,
      {
        code: "link_expired",
      },
    );
  }
  return row;
}

/** The call a notification is about: by id or completion id, else the nearest call upstream of the tag. */
async function callOf(ctx: AppContext, tag: string): Promise<CallDetail | null> {
  const direct = await callDetail(ctx, tag);
  if (direct) return direct;
  const [nearest] = await callIdsOfTag(ctx.store, tag, ctx.config.linkDepth);
  return nearest ? ((await callDetail(ctx, nearest.callId)) ?? null) : null;
}

async function rubricOf(deps: NotificationsDeps, name: string | null): Promise<RubricView> {
  return (
    (await getRubric(deps.store, name ?? DEFAULT_RUBRIC.name)) ??
    // A rubric cannot be deleted, but a database restored from elsewhere might lack it.
    ({ ...DEFAULT_RUBRIC, source: "builtin", updatedAt: null } satisfies RubricView)
  );
}

/** `GET /api/a/{token}`: everything the annotation page shows. */
export async function openTask(
  ctx: AppContext,
  deps: NotificationsDeps,
  token: string,
): Promise<AnnotateTask> {
  const row = await open(deps, token);
  const [call, rubric, siblings, link] = await Promise.all([
    callOf(ctx, row.completionId),
    rubricOf(deps, row.rubric),
    siblingsOf(deps.store, row),
    linkOf(deps, row),
  ]);
  const tokenOf = async (n: { id: string; expiresAt: number } | undefined) =>
    n ? (await linkOf(deps, n)).token : null;
  return {
    notification: { ...toNotificationView(row), url: link.url },
    call,
    rubric,
    siblings: { next: await tokenOf(siblings.next), previous: await tokenOf(siblings.previous) },
  };
}

export const answersSchema = z
  .object({
    answers: z.record(z.string(), z.unknown(), { error: "answers must be an object of field name → answer" }),
    annotatorId: z.string().trim().min(1).max(500).optional(),
  })
  .strict();
export type AnswersInput = z.infer<typeof answersSchema>;

function bad(field: string, message: string): never {
  throw new HttpError(400, `answers.${field}: ${message}`, { field: `answers.${field}` });
}

/** Turns one answer into the annotation fields it sets, or throws the 400 that names it. */
function annotationFields(
  f: RubricField,
  value: unknown,
): Pick<AnnotationInput, "numericReward" | "content" | "comment" | "correction"> {
  switch (f.type) {
    case "boolean":
      if (typeof value !== "boolean") bad(f.name, "must be true (thumbs up) or false (thumbs down)");
      return { numericReward: value ? 1 : 0 };
    case "scale": {
      const min = f.min ?? 1;
      const max = f.max ?? 5;
      if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max)
        bad(f.name, `must be a whole number from ${min} to ${max}`);
      return { numericReward: value };
    }
    case "choice":
      if (typeof value !== "string" || !f.options?.includes(value))
        bad(f.name, `must be one of ${(f.options ?? []).map((o) => JSON.stringify(o)).join(", ")}`);
      return { content: value };
    case "text":
      if (typeof value !== "string" || value.trim() === "") bad(f.name, "must be a non-empty string");
      if (value.length > 100_000) bad(f.name, "is longer than 100000 characters");
      return f.name === "comment" ? { comment: value } : { content: value };
    case "correction": {
      const r = correctionSchema.safeParse(value);
      if (!r.success)
        bad(
          f.name,
          "must be the assistant message it should have been: its text, or { content, tool_calls }",
        );
      return { correction: r.data };
    }
  }
}

export interface AnswerResult {
  notification: NotificationView;
  /** The annotation of each answered field (for a field answered before: the first answer, unchanged). */
  annotations: AnnotationView[];
  /** Fields that already had an answer for this notification, so this submission did not change them. */
  unchanged: string[];
}

/**
 * `POST /api/a/{token}/answers`: validates every answer against the rubric, stores one annotation per answered
 * field and marks the notification done.
 */
export async function answerTask(
  ctx: AppContext,
  deps: NotificationsDeps,
  token: string,
  input: AnswersInput,
): Promise<AnswerResult> {
  const row = await open(deps, token);
  const rubric = await rubricOf(deps, row.rubric);
  const fields = new Map(rubric.fields.map((f) => [f.name, f]));
  for (const name of Object.keys(input.answers)) {
    if (!fields.has(name))
      bad(name, `no field "${name}" in rubric "${rubric.name}" (fields: ${[...fields.keys()].join(", ")})`);
  }
  const items: AnnotationInput[] = [];
  for (const f of rubric.fields) {
    const value = input.answers[f.name];
    if (value === undefined || value === null) {
      if (f.required) bad(f.name, "is required");
      continue;
    }
    items.push({
      id: `${row.id}:${f.name}`,
      annotationKey: row.completionId,
      name: f.name,
      ...annotationFields(f, value),
      data: { rubric: rubric.name },
      source: "human",
      annotatorId: input.annotatorId ?? row.recipient,
      notificationId: row.id,
    });
  }
  if (items.length === 0) {
    throw new HttpError(400, "answers: give at least one answer", { field: "answers" });
  }
  const before = await ctx.store.db
    .selectFrom("annotations")
    .select("id")
    .where(
      "id",
      "in",
      items.map((i) => i.id as string),
    )
    .execute();
  const annotations = await insertAnnotations(ctx.store, items, ctx.config.linkDepth);
  await markDone(ctx.store, row.id);
  const after = await findNotification(ctx.store, row.id);
  const existed = new Set(before.map((b) => b.id));
  return {
    notification: toNotificationView(after ?? row),
    annotations,
    unchanged: items.filter((i) => existed.has(i.id as string)).map((i) => i.name),
  };
}
