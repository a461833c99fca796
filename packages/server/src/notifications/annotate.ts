/**
 * The annotation page's server side (`/api/a/{token}`): one notification opened by its signed token, and the
 * answers to its rubric stored as annotations (`source: "human"`, the recipient as annotator).
 *
 * A link opens exactly one item, for whoever holds it (a forwarded mail, a shared screen): its conversation, its
 * rubric, the sender's message and whether it is answered. Nothing about other items (no tokens of the
 * recipient's other notifications: the inbox, behind the API key, gives `j`/`k` its list), other reviewers'
 * answers, or the call's ids, tags, links, metadata, user or session. Answers are recorded as the recipient,
 * never as a name the client sends.
 *
 * Answering is idempotent per notification and field: each answer is stored as the annotation with id
 * `{notificationId}:{field}`, so a re-submitted form never duplicates an annotation and never overwrites the
 * first answer to a field; an answered (done) item can still receive answers to fields it has none for yet.
 */
import { z } from "zod";
import { findCall } from "../calls/index.ts";
import type { AppContext } from "../context.ts";
import { type AnnotationInput, callIdsOfTag, correctionSchema, insertAnnotations } from "../graph/index.ts";
import { HttpError } from "../http/error.ts";
import { jsonObject } from "../util/bounds.ts";
import { isoTime, isoTimeOrNull } from "../util/time.ts";
import { findNotification, markDone, type NotificationsDeps } from "./inbox.ts";
import { DEFAULT_RUBRIC, getRubric, type RubricDefinition, type RubricField } from "./rubrics.ts";
import { verifyToken } from "./tokens.ts";

/** The item a link opens, as its holder sees it: the sender's message and where the item stands. */
export interface AnnotateItem {
  message: string | null;
  /** `done` once answered (it still takes answers to fields that have none); revoked and expired links are 410s. */
  status: "open" | "done";
  expiresAt: string;
  doneAt: string | null;
}

/** The conversation to judge: what was asked and what was answered, nothing else of the call. */
export interface AnnotateConversation {
  /** The request's messages; null when the capture mode kept no bodies. */
  messages: unknown[] | null;
  /** Each choice's answer; null when no response was stored (an error, or metadata-only capture). */
  choices: Array<{ index: number; message: unknown; finish_reason: string | null }> | null;
}

export interface AnnotateTask {
  notification: AnnotateItem;
  /** Null while the call is not stored (yet). */
  conversation: AnnotateConversation | null;
  rubric: Pick<RubricDefinition, "name" | "description" | "fields">;
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
    throw new HttpError(410, `this link was revoked on ${isoTime(row.revokedAt ?? 0)}; ask for a new one`, {
      code: "link_revoked",
    });
  }
  if (row.status === "open" && row.expiresAt <= Date.now()) {
    throw new HttpError(410, `this link expired on ${isoTime(row.expiresAt)}; ask for a new one`, {
      code: "link_expired",
    });
  }
  return row;
}

function itemOf(row: { message: string | null; status: string; expiresAt: number; doneAt: number | null }) {
  return {
    message: row.message,
    status: row.status === "done" ? "done" : "open",
    expiresAt: isoTime(row.expiresAt),
    doneAt: isoTimeOrNull(row.doneAt),
  } satisfies AnnotateItem;
}

function parsed(body: string | null): Record<string, unknown> | null {
  if (!body) return null;
  const v: unknown = JSON.parse(body);
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/**
 * The conversation of the call a notification is about (by id or completion id, else the nearest call upstream
 * of the tag): its messages and answers only.
 */
async function conversationOf(ctx: AppContext, tag: string): Promise<AnnotateConversation | null> {
  let row = await findCall(ctx.store, tag);
  if (!row) {
    const [nearest] = await callIdsOfTag(ctx.store, tag, ctx.config.linkDepth);
    row = nearest ? await findCall(ctx.store, nearest.callId) : undefined;
  }
  if (!row) return null;
  const request = parsed(row.request);
  const response = parsed(row.response);
  const messages = Array.isArray(request?.messages) ? (request.messages as unknown[]) : null;
  const choices = Array.isArray(response?.choices)
    ? (response.choices as unknown[]).map((c, i) => {
        const choice = (c ?? {}) as { index?: unknown; message?: unknown; finish_reason?: unknown };
        return {
          index: typeof choice.index === "number" ? choice.index : i,
          message: choice.message ?? null,
          finish_reason: typeof choice.finish_reason === "string" ? choice.finish_reason : null,
        };
      })
    : null;
  return { messages, choices };
}

async function rubricOf(deps: NotificationsDeps, name: string | null): Promise<AnnotateTask["rubric"]> {
  // A rubric cannot be deleted, but a database restored from elsewhere might lack it.
  const r = (await getRubric(deps.store, name ?? DEFAULT_RUBRIC.name)) ?? DEFAULT_RUBRIC;
  return { name: r.name, description: r.description, fields: r.fields };
}

/** `GET /api/a/{token}`: everything the annotation page shows, and nothing more. */
export async function openTask(
  ctx: AppContext,
  deps: NotificationsDeps,
  token: string,
): Promise<AnnotateTask> {
  const row = await open(deps, token);
  const [conversation, rubric] = await Promise.all([
    conversationOf(ctx, row.completionId),
    rubricOf(deps, row.rubric),
  ]);
  return { notification: itemOf(row), conversation, rubric };
}

export const answersSchema = z
  .object({
    answers: jsonObject({ error: "answers must be an object of field name → answer" }),
  })
  .strict();
export type AnswersInput = z.infer<typeof answersSchema>;

/** Said to a client that names an annotator: the link decides who answers. */
export const ANNOTATOR_REFUSED =
  "annotatorId: not accepted here: answers through a link are recorded as the person it was sent to " +
  "(sendNotificationTo). To record an answer in another name, POST /api/annotations with the API key";

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
  notification: AnnotateItem;
  /** The fields this submission answered (stored now, or kept as first given: see `unchanged`). */
  answered: string[];
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
      // The recipient, always: the token is the only proof of who answers.
      annotatorId: row.recipient,
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
  await insertAnnotations(ctx.store, items, ctx.config.linkDepth);
  await markDone(ctx.store, row.id);
  const after = await findNotification(ctx.store, row.id);
  const existed = new Set(before.map((b) => b.id));
  return {
    notification: itemOf(after ?? row),
    answered: items.map((i) => i.name),
    unchanged: items.filter((i) => existed.has(i.id as string)).map((i) => i.name),
  };
}
