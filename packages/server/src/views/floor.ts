/**
 * The floor view: calls a floor check flagged (a `floor` annotation with numericReward 0, as evaluations and
 * live evaluators store them, see evals/floor.ts), newest call first, each with its flags, the excerpt behind
 * each, which checker found them and the call's preview. Reads the annotations and calls tables; owns nothing.
 */
import { sql } from "kysely";
import { z } from "zod";
import type { Store } from "../store/index.ts";
import { decodeCursor, encodeCursor } from "../util/cursor.ts";
import { isoTime } from "../util/time.ts";

/** One flagged call, as `GET /api/floor` lists it (one row per floor annotation that flagged it). */
export const floorItemSchema = z.object({
  annotationId: z.string(),
  callId: z.string(),
  flags: z.array(z.string()),
  excerpts: z.record(z.string(), z.string()),
  checker: z.enum(["moderation", "judge"]),
  check: z.string().nullable().describe("the check's name in its declaration"),
  evaluator: z.string().nullable().describe("the live evaluator that ran it; null for an evaluation's"),
  reason: z.string().nullable(),
  flaggedAt: z.string(),
  call: z.object({
    startedAt: z.string(),
    model: z.string().nullable(),
    upstream: z.string(),
    userId: z.string().nullable(),
    sessionId: z.string().nullable(),
    previewInput: z.string().nullable(),
    previewOutput: z.string().nullable(),
  }),
});
export type FloorItem = z.infer<typeof floorItemSchema>;

export const floorPageSchema = z.object({
  data: z.array(floorItemSchema),
  nextCursor: z.string().nullable(),
});

export interface FloorQuery {
  flag?: string;
  from?: number;
  to?: number;
  cursor?: string;
  limit: number;
}

interface FloorData {
  flags: string[];
  excerpts: Record<string, string>;
  checker: "moderation" | "judge";
  check: string | null;
  evaluator: string | null;
}

/** An annotation's data as the floor contract writes it; undefined when it is not one (another tool's row). */
function floorData(raw: string | null, source: string): FloorData | undefined {
  let v: unknown;
  try {
    v = raw ? JSON.parse(raw) : undefined;
  } catch {
    return undefined;
  }
  const d = v as Record<string, unknown> | undefined;
  if (!d || typeof d !== "object" || !Array.isArray(d.flags)) return undefined;
  const flags = d.flags.filter((f): f is string => typeof f === "string");
  const excerpts: Record<string, string> = {};
  if (d.excerpts && typeof d.excerpts === "object")
    for (const [k, e] of Object.entries(d.excerpts as Record<string, unknown>))
      if (typeof e === "string") excerpts[k] = e;
  const checker =
    d.checker === "moderation" || d.checker === "judge"
      ? d.checker
      : source === "judge"
        ? "judge"
        : "moderation";
  return {
    flags,
    excerpts,
    checker,
    check: typeof d.check === "string" ? d.check : null,
    evaluator: typeof d.evaluator === "string" ? d.evaluator : null,
  };
}

/** How many rows one page reads at most while a flag filter drops look-alikes (an excerpt quoting a flag). */
const SCAN_FACTOR = 4;

/**
 * Flagged calls, newest call first, paged by (call start, annotation id). `flag` keeps those flagged with it
 * (ignoring case); `from`/`to` bound the call's start (`from <= startedAt < to`).
 * @throws HttpError 400 naming `cursor` for a cursor this server did not issue.
 */
export async function listFloor(
  store: Store,
  q: FloorQuery,
): Promise<{ data: FloorItem[]; nextCursor: string | null }> {
  const after = q.cursor ? decodeCursor(q.cursor) : undefined;
  const want = q.flag?.trim().toLowerCase();
  let query = store.db
    .selectFrom("annotations")
    .innerJoin("callAnnotations", "callAnnotations.annotationId", "annotations.id")
    .innerJoin("calls", "calls.id", "callAnnotations.callId")
    .select([
      "annotations.id as annotationId",
      "annotations.data",
      "annotations.source",
      "annotations.comment",
      "annotations.createdAt",
      "calls.id as callId",
      "calls.startedAt",
      "calls.requestedModel",
      "calls.servedModel",
      "calls.upstream",
      "calls.userId",
      "calls.sessionId",
      "calls.previewInput",
      "calls.previewOutput",
    ])
    .where("annotations.name", "=", "floor")
    .where("annotations.numericReward", "=", 0)
    // The call the verdict is on, not the calls a link carries it down to.
    .whereRef("annotations.key", "=", "calls.id");
  if (q.from !== undefined) query = query.where("calls.startedAt", ">=", q.from);
  if (q.to !== undefined) query = query.where("calls.startedAt", "<", q.to);
  // A coarse filter in SQL (the flag as a JSON string anywhere in the data), the exact one below.
  if (want)
    query = query.where(store.dialect.containsText(sql.ref("annotations.data"), JSON.stringify(want)));
  if (after)
    query = query.where((eb) =>
      eb.or([
        eb("calls.startedAt", "<", after.t),
        eb.and([eb("calls.startedAt", "=", after.t), eb("annotations.id", "<", after.id)]),
      ]),
    );
  const scan = q.limit * (want ? SCAN_FACTOR : 1) + 1;
  const rows = await query
    .orderBy("calls.startedAt", "desc")
    .orderBy("annotations.id", "desc")
    .limit(scan)
    .execute();
  const data: FloorItem[] = [];
  let last: { t: number; id: string } | undefined;
  let i = 0;
  for (; i < rows.length && data.length < q.limit; i++) {
    const r = rows[i] as (typeof rows)[number];
    last = { t: r.startedAt, id: r.annotationId };
    const d = floorData(r.data, r.source);
    if (!d) continue;
    if (want && !d.flags.some((f) => f.toLowerCase() === want)) continue;
    data.push({
      annotationId: r.annotationId,
      callId: r.callId,
      flags: d.flags,
      excerpts: d.excerpts,
      checker: d.checker,
      check: d.check,
      evaluator: d.evaluator,
      reason: r.comment,
      flaggedAt: isoTime(r.createdAt),
      call: {
        startedAt: isoTime(r.startedAt),
        model: r.servedModel ?? r.requestedModel,
        upstream: r.upstream,
        userId: r.userId,
        sessionId: r.sessionId,
        previewInput: r.previewInput,
        previewOutput: r.previewOutput,
      },
    });
  }
  // More remain when rows were left unread, or the scan was cut at its limit.
  const more = i < rows.length || rows.length === scan;
  return { data, nextCursor: more && last ? encodeCursor(last.t, last.id) : null };
}
