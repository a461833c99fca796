/**
 * Review queues: several reviewers per item. A queue takes calls (a saved dataset, a list of call ids such as a
 * review-queue selection, or a seeded random sample of calls matching a filter) and deals each to `perItem`
 * distinct reviewers, round robin, so every reviewer gets the same number of items give or take one. Each
 * assignment is an ordinary notification (inbox, signed link, answers as annotations of that notification), so
 * nothing about answering changes.
 *
 * Reading a queue gives each reviewer's progress, and per rubric field (boolean, scale, choice) the agreement:
 * Krippendorff's alpha over every item with two answers or more (any number of reviewers, missing answers), and
 * Cohen's kappa when the queue has exactly two reviewers, each with a seeded bootstrap interval (agreement.ts).
 * Items whose reviewers answered a field differently are listed, and surface in the review queue (views/review.ts)
 * until a person settles them with an annotation of their own.
 */
import { z } from "zod";
import { callConditions, callFilterSchema, callListRowsByIds, findCall } from "../calls/index.ts";
import { hash32, seededRandom } from "../evals/index.ts";
import { datasetCallIds } from "../exports/index.ts";
import { HttpError } from "../http/error.ts";
import type { Database, Store } from "../store/index.ts";
import { readJson, readJsonObject, readStringArray } from "../store/json.ts";
import { text } from "../util/bounds.ts";
import { newId } from "../util/ids.ts";
import { isoTime } from "../util/time.ts";
import {
  type AgreementLevel,
  agreementLevels,
  alphaEstimate,
  type Estimate,
  kappaEstimate,
  type Rating,
} from "./agreement.ts";
import { type NotificationsDeps, notify, statusOf } from "./inbox.ts";
import { DEFAULT_RUBRIC, getRubric, type RubricField, requireRubric } from "./rubrics.ts";
import { expiresInSecondsSchema } from "./schemas.ts";

/** At most this many items in one queue, and this many notifications (items × perItem). */
export const MAX_QUEUE_ITEMS = 5000;
export const MAX_QUEUE_ASSIGNMENTS = 20_000;
/** A sample is drawn from at most this many of the newest matching calls. */
const SAMPLE_POOL = 10_000;

const filterValue = z.union([z.string(), z.number(), z.boolean()]);

export const createReviewQueueSchema = z
  .object({
    name: text(200, { min: 1, trim: true, what: "name" }),
    source: z
      .object({
        dataset: text(200, { min: 1, trim: true }).optional().describe("a saved dataset's name"),
        callIds: z
          .array(text(200, { min: 1, trim: true }))
          .min(1, "callIds must not be empty")
          .max(MAX_QUEUE_ITEMS)
          .optional()
          .describe("call ids (or completion ids), e.g. a selection from the review queue"),
        sample: z
          .object({
            n: z.number().int().min(1).max(MAX_QUEUE_ITEMS),
            filter: z
              .record(z.string(), filterValue)
              .optional()
              .describe("the calls list's filters (model, upstream, tag, from, to, ...)"),
            seed: z.number().int().optional().describe("the same seed and calls draw the same sample"),
          })
          .strict()
          .optional()
          .describe("a random sample of n calls among the newest 10000 that match the filter"),
      })
      .strict()
      .superRefine((s, ctx) => {
        const given = [s.dataset, s.callIds, s.sample].filter((x) => x !== undefined).length;
        if (given !== 1)
          ctx.addIssue({ code: "custom", message: "give exactly one of dataset, callIds or sample" });
      }),
    reviewers: z
      .array(text(500, { min: 1, trim: true, what: "a reviewer" }))
      .min(1, "reviewers must name at least one person")
      .max(100)
      .refine((r) => new Set(r).size === r.length, "reviewers must be distinct"),
    perItem: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(2)
      .describe("reviewers per item, each a different person"),
    rubric: text(200, { min: 1 }).default(DEFAULT_RUBRIC.name),
    levels: z
      .record(
        z.string(),
        z.enum(agreementLevels, { error: `a level is one of ${agreementLevels.join(", ")}` }),
      )
      .optional()
      .describe("agreement level per field, where the field's type would choose otherwise"),
    message: text(10_000).optional(),
    expiresInSeconds: expiresInSecondsSchema.optional(),
  })
  .strict()
  .superRefine((q, ctx) => {
    if (q.perItem > q.reviewers.length)
      ctx.addIssue({
        code: "custom",
        path: ["perItem"],
        message: `perItem (${q.perItem}) cannot exceed the number of reviewers (${q.reviewers.length}): each item goes to different people`,
      });
  });
export type CreateReviewQueueInput = z.infer<typeof createReviewQueueSchema>;

/** The level a field's type implies: categories are nominal, a scale is ordered. */
function defaultLevel(f: RubricField): AgreementLevel {
  return f.type === "scale" ? "ordinal" : "nominal";
}

const agreeable = (f: RubricField) => f.type === "boolean" || f.type === "scale" || f.type === "choice";

/** Deals items to reviewers: item i gets `perItem` consecutive reviewers from where the last one stopped. */
export function deal(itemCount: number, reviewers: readonly string[], perItem: number): string[][] {
  const out: string[][] = [];
  let next = 0;
  for (let i = 0; i < itemCount; i++) {
    const got: string[] = [];
    for (let j = 0; j < perItem; j++) got.push(reviewers[(next + j) % reviewers.length] as string);
    next = (next + perItem) % reviewers.length;
    out.push(got);
  }
  return out;
}

async function sampleIds(
  store: Store,
  sample: NonNullable<CreateReviewQueueInput["source"]["sample"]>,
  queueId: string,
): Promise<string[]> {
  const raw = Object.fromEntries(Object.entries(sample.filter ?? {}).map(([k, v]) => [k, String(v)]));
  const known = new Set(Object.keys(callFilterSchema.shape));
  for (const k of Object.keys(raw)) {
    if (!known.has(k))
      throw new HttpError(
        400,
        `source.sample.filter.${k}: unknown filter (one of ${[...known].join(", ")})`,
        { field: `source.sample.filter.${k}` },
      );
  }
  const parsed = callFilterSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = `source.sample.filter.${issue?.path.join(".")}`;
    throw new HttpError(400, `${field}: ${issue?.message}`, { field });
  }
  const rows = await store.db
    .selectFrom("calls")
    .select("calls.id")
    .where(callConditions(store, parsed.data))
    .orderBy("calls.startedAt", "desc")
    .orderBy("calls.id", "desc")
    .limit(SAMPLE_POOL)
    .execute();
  const pool = rows.map((r) => r.id);
  const random = seededRandom(sample.seed ?? hash32(queueId));
  const n = Math.min(sample.n, pool.length);
  // Partial Fisher–Yates: the first n places are a uniform sample.
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(random() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j] as string, pool[i] as string];
  }
  return pool.slice(0, n);
}

/** The call ids of the given ids or completion ids, in order. @throws HttpError 400 naming the first unknown one. */
async function resolveCallIds(store: Store, given: string[]): Promise<string[]> {
  const byId = await callListRowsByIds(store, given);
  const out: string[] = [];
  for (const [i, tag] of given.entries()) {
    if (byId.has(tag)) {
      out.push(tag);
      continue;
    }
    const row = await findCall(store, tag);
    if (!row)
      throw new HttpError(400, `source.callIds[${i}]: no call with id or completion id "${tag}"`, {
        field: `source.callIds[${i}]`,
      });
    out.push(row.id);
  }
  return out;
}

async function itemsOf(store: Store, input: CreateReviewQueueInput, queueId: string): Promise<string[]> {
  const { source } = input;
  let ids: string[];
  if (source.dataset !== undefined) {
    try {
      ids = await datasetCallIds({ store }, source.dataset);
    } catch (err) {
      if (err instanceof HttpError && err.status === 404)
        throw new HttpError(400, `source.dataset: no dataset named "${source.dataset}"`, {
          field: "source.dataset",
        });
      throw err;
    }
  } else if (source.callIds !== undefined) {
    ids = await resolveCallIds(store, source.callIds);
  } else {
    ids = await sampleIds(store, source.sample as NonNullable<typeof source.sample>, queueId);
  }
  const unique = [...new Set(ids)];
  if (unique.length === 0)
    throw new HttpError(400, "source: selects no calls; a queue needs at least one item", {
      field: "source",
    });
  if (unique.length > MAX_QUEUE_ITEMS)
    throw new HttpError(
      400,
      `source: selects ${unique.length} calls; a queue takes at most ${MAX_QUEUE_ITEMS} (narrow it, or sample)`,
      { field: "source" },
    );
  if (unique.length * input.perItem > MAX_QUEUE_ASSIGNMENTS)
    throw new HttpError(
      400,
      `perItem: ${unique.length} items × ${input.perItem} is over ${MAX_QUEUE_ASSIGNMENTS} assignments`,
      { field: "perItem" },
    );
  return unique;
}

export interface ReviewerProgress {
  reviewer: string;
  assigned: number;
  done: number;
  open: number;
  /** Expired or revoked before an answer. */
  lapsed: number;
}

export interface FieldAgreement {
  field: string;
  type: RubricField["type"];
  level: AgreementLevel;
  /** Krippendorff's alpha over the items with two answers or more. */
  alpha: Estimate;
  /** Cohen's kappa (nominal), when the queue has exactly two reviewers; else null. */
  kappa: Estimate | null;
  /** Items where the answers differ. */
  disagreements: number;
}

export interface DisagreementItem {
  callId: string;
  position: number;
  /** The fields answered differently, each with every reviewer's answer. */
  fields: Array<{ field: string; answers: Record<string, Rating> }>;
}

export interface ReviewQueueSummary {
  id: string;
  name: string;
  rubric: string;
  reviewers: string[];
  perItem: number;
  itemCount: number;
  createdAt: string;
  /** Assignments answered, of all assignments. */
  done: number;
  assigned: number;
}

export interface ReviewQueueView extends ReviewQueueSummary {
  source: Record<string, unknown>;
  levels: Record<string, AgreementLevel> | null;
  progress: ReviewerProgress[];
  agreement: FieldAgreement[];
  disagreements: DisagreementItem[];
}

type QueueRow = Database["reviewQueues"];

/**
 * Creates a queue: resolves its items, deals them, stores the queue and one notification per reviewer per item.
 * @throws HttpError 400 naming the field (an unknown rubric, dataset or call, a bad filter, too many items).
 */
export async function createReviewQueue(
  deps: NotificationsDeps,
  input: CreateReviewQueueInput,
): Promise<ReviewQueueView> {
  const { store } = deps;
  const rubric = await requireRubric(store, input.rubric, "rubric");
  for (const name of Object.keys(input.levels ?? {})) {
    const f = rubric.fields.find((x) => x.name === name);
    if (!f || !agreeable(f))
      throw new HttpError(
        400,
        `levels.${name}: no boolean, scale or choice field "${name}" in rubric "${rubric.name}"`,
        { field: `levels.${name}` },
      );
    if (f.type !== "scale" && input.levels?.[name] !== "nominal")
      throw new HttpError(400, `levels.${name}: a ${f.type} field's answers are categories: only nominal`, {
        field: `levels.${name}`,
      });
  }
  const now = Date.now();
  const id = newId("rq", now);
  const items = await itemsOf(store, input, id);
  const dealt = deal(items.length, input.reviewers, input.perItem);
  const assignments = items.flatMap((callId, position) =>
    (dealt[position] as string[]).map((reviewer) => ({
      queueId: id,
      position,
      callId,
      reviewer,
      notificationId: `${id}.${position}.${input.reviewers.indexOf(reviewer)}`,
    })),
  );
  await store.db.transaction().execute(async (trx) => {
    await trx
      .insertInto("reviewQueues")
      .values({
        id,
        name: input.name,
        source: JSON.stringify(input.source),
        reviewers: JSON.stringify(input.reviewers),
        perItem: input.perItem,
        rubric: rubric.name,
        levels: input.levels ? JSON.stringify(input.levels) : null,
        itemCount: items.length,
        createdAt: now,
      })
      .execute();
    for (let i = 0; i < assignments.length; i += 500) {
      await trx
        .insertInto("reviewQueueItems")
        .values(assignments.slice(i, i + 500))
        .execute();
    }
  });
  try {
    await notify(
      deps,
      assignments.map((a) => ({
        id: a.notificationId,
        completionId: a.callId,
        sendNotificationTo: a.reviewer,
        message: input.message ?? `Review queue "${input.name}": item ${a.position + 1} of ${items.length}`,
        rubric: rubric.name,
        metadata: { reviewQueue: id, reviewQueueName: input.name, position: a.position },
        expiresInSeconds: input.expiresInSeconds,
      })),
      true,
    );
  } catch (err) {
    // No queue without its notifications: a half-made one would count assignments nobody can answer.
    await store.db.deleteFrom("reviewQueueItems").where("queueId", "=", id).execute();
    await store.db.deleteFrom("reviewQueues").where("id", "=", id).execute();
    throw err;
  }
  return (await getReviewQueue(store, id)) as ReviewQueueView;
}

function summaryOf(row: QueueRow, done: number, assigned: number): ReviewQueueSummary {
  return {
    id: row.id,
    name: row.name,
    rubric: row.rubric,
    reviewers: readStringArray(row.reviewers),
    perItem: row.perItem,
    itemCount: row.itemCount,
    createdAt: isoTime(row.createdAt),
    done,
    assigned,
  };
}

/** Queues, newest first, each with how many of its assignments are answered. */
export async function listReviewQueues(store: Store, limit = 100): Promise<ReviewQueueSummary[]> {
  const rows = await store.db
    .selectFrom("reviewQueues")
    .selectAll()
    .orderBy("createdAt", "desc")
    .orderBy("id", "desc")
    .limit(limit)
    .execute();
  if (rows.length === 0) return [];
  const counts = await store.db
    .selectFrom("reviewQueueItems")
    .innerJoin("notifications", "notifications.id", "reviewQueueItems.notificationId")
    .select((eb) => [
      "reviewQueueItems.queueId",
      eb.fn.countAll<number>().as("assigned"),
      eb.fn.sum<number>(eb.case().when("notifications.status", "=", "done").then(1).else(0).end()).as("done"),
    ])
    .where(
      "reviewQueueItems.queueId",
      "in",
      rows.map((r) => r.id),
    )
    .groupBy("reviewQueueItems.queueId")
    .execute();
  const byQueue = new Map(counts.map((c) => [c.queueId, c]));
  return rows.map((r) =>
    summaryOf(r, Number(byQueue.get(r.id)?.done ?? 0), Number(byQueue.get(r.id)?.assigned ?? 0)),
  );
}

/** An annotation's answer as the rubric field's value: a boolean, a number or a category. */
function ratingOf(f: RubricField, a: { numericReward: number | null; content: string | null }): Rating {
  if (f.type === "boolean") return a.numericReward === null ? null : a.numericReward >= 0.5;
  if (f.type === "scale") return a.numericReward;
  const v = readJson(a.content);
  return typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? v : null;
}

/** One queue's assignments with their notification state and answers. */
async function answersOf(store: Store, queueId: string) {
  const assignments = await store.db
    .selectFrom("reviewQueueItems")
    .innerJoin("notifications", "notifications.id", "reviewQueueItems.notificationId")
    .select([
      "reviewQueueItems.position",
      "reviewQueueItems.callId",
      "reviewQueueItems.reviewer",
      "reviewQueueItems.notificationId",
      "notifications.status",
      "notifications.expiresAt",
    ])
    .where("reviewQueueItems.queueId", "=", queueId)
    .orderBy("reviewQueueItems.position")
    .execute();
  const answers: Array<{
    notificationId: string | null;
    name: string;
    numericReward: number | null;
    content: string | null;
  }> = [];
  const ids = assignments.map((a) => a.notificationId);
  for (let i = 0; i < ids.length; i += 500) {
    answers.push(
      ...(await store.db
        .selectFrom("annotations")
        .select(["notificationId", "name", "numericReward", "content"])
        .where("notificationId", "in", ids.slice(i, i + 500))
        .execute()),
    );
  }
  return { assignments, answers };
}

/** The agreement fields of a queue's rubric, each with its level. */
async function fieldsOf(store: Store, row: QueueRow) {
  const rubric = (await getRubric(store, row.rubric)) ?? DEFAULT_RUBRIC;
  const levels = (readJsonObject(row.levels) ?? {}) as Record<string, AgreementLevel>;
  return rubric.fields.filter(agreeable).map((f) => ({ f, level: levels[f.name] ?? defaultLevel(f) }));
}

/** Per field, per item position: each reviewer's answer. */
function ratingsByField(
  fields: Array<{ f: RubricField }>,
  assignments: Array<{ position: number; reviewer: string; notificationId: string }>,
  answers: Array<{
    notificationId: string | null;
    name: string;
    numericReward: number | null;
    content: string | null;
  }>,
) {
  const who = new Map(assignments.map((a) => [a.notificationId, a]));
  const out = new Map<string, Map<number, Map<string, Rating>>>();
  for (const { f } of fields) out.set(f.name, new Map());
  const byName = new Map(fields.map(({ f }) => [f.name, f]));
  for (const a of answers) {
    const f = byName.get(a.name);
    const as = a.notificationId === null ? undefined : who.get(a.notificationId);
    if (!f || !as) continue;
    const rating = ratingOf(f, a);
    if (rating === null) continue;
    const items = out.get(f.name) as Map<number, Map<string, Rating>>;
    const item = items.get(as.position) ?? new Map<string, Rating>();
    item.set(as.reviewer, rating);
    items.set(as.position, item);
  }
  return out;
}

const differ = (answers: Map<string, Rating>) =>
  answers.size >= 2 && new Set([...answers.values()].map((v) => JSON.stringify(v))).size > 1;

/** One queue with progress per reviewer, agreement per field and the items reviewers disagree on; or undefined. */
export async function getReviewQueue(store: Store, id: string): Promise<ReviewQueueView | undefined> {
  const row = await store.db.selectFrom("reviewQueues").selectAll().where("id", "=", id).executeTakeFirst();
  if (!row) return undefined;
  const reviewers = readStringArray(row.reviewers);
  const [{ assignments, answers }, fields] = await Promise.all([answersOf(store, id), fieldsOf(store, row)]);
  const now = Date.now();
  const progress = new Map<string, ReviewerProgress>(
    reviewers.map((r) => [r, { reviewer: r, assigned: 0, done: 0, open: 0, lapsed: 0 }]),
  );
  const callOf = new Map<number, string>();
  for (const a of assignments) {
    callOf.set(a.position, a.callId);
    const p = progress.get(a.reviewer);
    if (!p) continue;
    p.assigned++;
    const status = statusOf(a, now);
    if (status === "done") p.done++;
    else if (status === "open") p.open++;
    else p.lapsed++;
  }
  const ratings = ratingsByField(fields, assignments, answers);
  const agreement: FieldAgreement[] = fields.map(({ f, level }) => {
    const items = [...(ratings.get(f.name) as Map<number, Map<string, Rating>>).values()];
    const units = items.map((m) => reviewers.map((r) => m.get(r) ?? null));
    return {
      field: f.name,
      type: f.type,
      level,
      alpha: alphaEstimate(units, level, `${id}:${f.name}`),
      kappa:
        reviewers.length === 2
          ? kappaEstimate(
              units.map((u) => [u[0] ?? null, u[1] ?? null] as const),
              `${id}:${f.name}:kappa`,
            )
          : null,
      disagreements: items.filter(differ).length,
    };
  });
  const disagreeing = new Map<number, DisagreementItem>();
  for (const { f } of fields) {
    for (const [position, m] of ratings.get(f.name) as Map<number, Map<string, Rating>>) {
      if (!differ(m)) continue;
      const item = disagreeing.get(position) ?? {
        callId: callOf.get(position) as string,
        position,
        fields: [],
      };
      item.fields.push({ field: f.name, answers: Object.fromEntries(m) });
      disagreeing.set(position, item);
    }
  }
  const list = [...progress.values()];
  return {
    ...summaryOf(
      row,
      list.reduce((s, p) => s + p.done, 0),
      list.reduce((s, p) => s + p.assigned, 0),
    ),
    source: readJsonObject(row.source) ?? {},
    levels: readJsonObject(row.levels) as Record<string, AgreementLevel> | null,
    progress: list,
    agreement,
    disagreements: [...disagreeing.values()].sort((a, b) => a.position - b.position),
  };
}

/** How many of the newest queues the review queue looks at for disagreements (its cost stays bounded). */
const DISAGREEMENT_QUEUES = 50;

/**
 * Calls on which a queue's reviewers disagree, for the review queue: newest queues first, at most `limit`, each
 * with why. A call drops out once a person annotates it outside the queue (an adjudication), or is given to it
 * again in a newer queue.
 */
export async function disagreeingCalls(
  store: Store,
  limit: number,
): Promise<Array<{ callId: string; reason: string }>> {
  const queues = await store.db
    .selectFrom("reviewQueues")
    .selectAll()
    .orderBy("createdAt", "desc")
    .orderBy("id", "desc")
    .limit(DISAGREEMENT_QUEUES)
    .execute();
  const found = new Map<string, { reason: string; notifications: Set<string> }>();
  for (const q of queues) {
    if (found.size >= limit * 2) break;
    const [{ assignments, answers }, fields] = await Promise.all([
      answersOf(store, q.id),
      fieldsOf(store, q),
    ]);
    const ratings = ratingsByField(fields, assignments, answers);
    const callOf = new Map(assignments.map((a) => [a.position, a.callId]));
    const byPosition = new Map<number, string[]>();
    for (const { f } of fields) {
      for (const [position, m] of ratings.get(f.name) as Map<number, Map<string, Rating>>) {
        if (!differ(m)) continue;
        const said = [...m].map(([r, v]) => `${r} ${JSON.stringify(v)}`).join(", ");
        byPosition.set(position, [...(byPosition.get(position) ?? []), `${f.name} (${said})`]);
      }
    }
    for (const [position, parts] of byPosition) {
      const callId = callOf.get(position) as string;
      if (found.has(callId)) continue;
      found.set(callId, {
        reason: `reviewers disagree in queue "${q.name}" on ${parts.join("; ")}`,
        notifications: new Set(
          assignments.filter((a) => a.position === position).map((a) => a.notificationId),
        ),
      });
    }
  }
  if (found.size === 0) return [];
  // A human annotation of the call that is not one of the queue's answers settles it.
  const settled = new Set<string>();
  const ids = [...found.keys()];
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await store.db
      .selectFrom("callAnnotations")
      .innerJoin("annotations", "annotations.id", "callAnnotations.annotationId")
      .select(["callAnnotations.callId", "annotations.notificationId"])
      .where("callAnnotations.callId", "in", ids.slice(i, i + 500))
      .where("annotations.source", "=", "human")
      .execute();
    for (const r of rows) {
      const own = found.get(r.callId)?.notifications;
      if (r.notificationId === null || !own?.has(r.notificationId)) settled.add(r.callId);
    }
  }
  return [...found]
    .filter(([callId]) => !settled.has(callId))
    .slice(0, limit)
    .map(([callId, v]) => ({ callId, reason: v.reason }));
}
