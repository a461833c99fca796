/**
 * Judge calibration: how often each judge agrees with people on the same items, and where it does not.
 *
 * A judge is what wrote verdicts with `source: "judge"`:
 * - an absolute judge (or an LLM check, or a judge floor check): annotations named by the judge, each resolved
 *   to the calls it judges. Its verdict on a call is pass when the reward is >= 0.5. People's labels are
 *   annotations of the same name on the same call with `source` `human` or `user`; several are averaged
 *   and pass at >= 0.5, as the evaluation report does. The judge's newest verdict on a call counts (a prompt
 *   refined after calibrating is judged on what it says now).
 * - a pairwise judge: `comparisons` rows named by their `annotatorId` (the judge's name). People's choices are
 *   comparisons of the same two tags, in either order (turned to the judge's order); several are reduced to
 *   their most frequent choice, a tie between choices reading as "tie". A choice on a named criterion
 *   (conversation evaluations) is compared with people's choices on the same criterion, and each criterion is
 *   a judge of its own in the list (`criterion`), since a judge may read one criterion better than another.
 *
 * Agreement is Cohen's kappa with its 95% interval (`cohenKappaTable`), raw agreement with its Wilson interval
 * and the confusion table (rows: the judge's verdict, columns: the people's). Below `CALIBRATED_MIN` items the
 * numbers are shown but the judge is "not yet calibrated". Everything is read from what others own (the graph's
 * tables); only items people labelled are held in memory, and the verdict counts are SQL aggregates.
 */
import { z } from "zod";
import { previewsByTag } from "../calls/index.ts";
import { cohenKappaTable, wilson } from "../evals/stats.ts";
import { HttpError, type RouteTable, route } from "../http/index.ts";
import type { Store } from "../store/index.ts";
import { text } from "../util/bounds.ts";
import { decodeCursor, encodeCursor } from "../util/cursor.ts";

/** Items labelled by both a judge and people below which a judge's agreement is "not yet calibrated". */
export const CALIBRATED_MIN = 20;
const HUMAN_SOURCES = ["human", "user"];

const intervalSchema = z.tuple([z.number(), z.number()]).nullable();

export const judgeSummarySchema = z.object({
  name: z.string(),
  mode: z.enum(["absolute", "pairwise"]),
  criterion: z
    .string()
    .nullable()
    .describe("the named criterion of a pairwise judge; null: the whole answer"),
  models: z
    .array(z.string())
    .describe("the annotator ids (models) that wrote the verdicts; absolute judges only"),
  verdicts: z.number().describe("calls (absolute) or pairs (pairwise) the judge gave a verdict on"),
  labelled: z.number().describe("of those, items people labelled too: the agreement's n"),
  agreement: z.object({
    n: z.number(),
    agree: z.number(),
    rate: z.number().nullable(),
    rateCi: intervalSchema.describe("Wilson 95%"),
    kappa: z.number().nullable().describe("Cohen's kappa; null when undefined (one category throughout)"),
    kappaSe: z.number().nullable(),
    kappaCi: intervalSchema.describe("kappa ± 1.96·se (Fleiss, Cohen & Everitt 1969), cut to [-1, 1]"),
  }),
  confusion: z.object({
    labels: z.array(z.string()).describe("pass/fail, or a/b/tie"),
    counts: z.array(z.array(z.number())).describe("rows: the judge's verdict, columns: the people's"),
  }),
  calibrated: z.boolean().describe(`at least ${CALIBRATED_MIN} items labelled by both`),
  disagreements: z.number(),
});
export type JudgeSummary = z.infer<typeof judgeSummarySchema>;

export const judgesListSchema = z.object({ data: z.array(judgeSummarySchema) });

const previewSchema = z.object({
  tag: z.string(),
  callId: z.string().nullable(),
  input: z.string().nullable(),
  output: z.string().nullable(),
});

export const disagreementSchema = z.object({
  mode: z.enum(["absolute", "pairwise"]),
  key: z.string().describe("the call id (absolute) or `a` and `b` joined by a newline (pairwise)"),
  criterion: z.string().nullable(),
  at: z.string().describe("when the judge gave the verdict"),
  calls: z.array(previewSchema).describe("the judged call, or a then b"),
  judge: z.object({
    id: z.string(),
    verdict: z.string(),
    reward: z.number().nullable(),
    reason: z.string().nullable(),
    annotatorId: z.string().nullable(),
  }),
  human: z.string().describe("the people's verdict the judge is compared with"),
  humans: z.array(
    z.object({
      id: z.string(),
      verdict: z.string(),
      reward: z.number().nullable(),
      reason: z.string().nullable(),
      annotatorId: z.string().nullable(),
      source: z.string(),
      at: z.string(),
    }),
  ),
});
export type Disagreement = z.infer<typeof disagreementSchema>;

export const calibrationPageSchema = z.object({
  name: z.string(),
  judges: z.array(judgeSummarySchema),
  data: z.array(disagreementSchema),
  nextCursor: z.string().nullable(),
});
export type CalibrationPage = z.infer<typeof calibrationPageSchema>;

type Mode = "absolute" | "pairwise";
interface Label {
  id: string;
  verdict: string;
  reward: number | null;
  reason: string | null;
  annotatorId: string | null;
  source: string;
  at: number;
}
/** One item judged by a judge and labelled by people. */
interface Item {
  mode: Mode;
  name: string;
  criterion: string | null;
  key: string;
  tags: string[];
  judge: Label;
  humans: Label[];
  human: string;
}

const ABSOLUTE_LABELS = ["pass", "fail"];
const PAIRWISE_LABELS = ["a", "b", "tie"];
const passOf = (reward: number) => (reward >= 0.5 ? "pass" : "fail");
const newer = (x: Label, y: Label) => x.at > y.at || (x.at === y.at && x.id > y.id);

/** Absolute judges: each (judge, call) with a judge verdict and people's labels of the same name. */
async function absoluteItems(store: Store, name?: string): Promise<Item[]> {
  let q = store.db
    .selectFrom("annotations as j")
    .innerJoin("callAnnotations as jc", "jc.annotationId", "j.id")
    .innerJoin("callAnnotations as hc", "hc.callId", "jc.callId")
    .innerJoin("annotations as h", (join) =>
      join.onRef("h.id", "=", "hc.annotationId").onRef("h.name", "=", "j.name"),
    )
    .select([
      "j.name",
      "jc.callId",
      "j.id as jId",
      "j.numericReward as jReward",
      "j.comment as jComment",
      "j.annotatorId as jAnnotator",
      "j.createdAt as jAt",
      "h.id as hId",
      "h.numericReward as hReward",
      "h.comment as hComment",
      "h.annotatorId as hAnnotator",
      "h.source as hSource",
      "h.createdAt as hAt",
    ])
    .where("j.source", "=", "judge")
    .where("j.numericReward", "is not", null)
    .where("h.source", "in", HUMAN_SOURCES)
    .where("h.numericReward", "is not", null);
  if (name !== undefined) q = q.where("j.name", "=", name);
  const rows = await q.execute();
  const byKey = new Map<string, { name: string; callId: string; judge: Label; humans: Map<string, Label> }>();
  for (const r of rows) {
    const k = `${r.name}\n${r.callId}`;
    const jReward = Number(r.jReward);
    const judge: Label = {
      id: r.jId,
      verdict: passOf(jReward),
      reward: jReward,
      reason: r.jComment,
      annotatorId: r.jAnnotator,
      source: "judge",
      at: Number(r.jAt),
    };
    const hReward = Number(r.hReward);
    const human: Label = {
      id: r.hId,
      verdict: passOf(hReward),
      reward: hReward,
      reason: r.hComment,
      annotatorId: r.hAnnotator,
      source: r.hSource,
      at: Number(r.hAt),
    };
    const acc = byKey.get(k) ?? { name: r.name, callId: r.callId, judge, humans: new Map() };
    if (newer(judge, acc.judge)) acc.judge = judge;
    acc.humans.set(human.id, human);
    byKey.set(k, acc);
  }
  return [...byKey.values()].map(({ name, callId, judge, humans }) => {
    const hs = [...humans.values()].sort((x, y) => x.at - y.at);
    const meanReward = hs.reduce((s, h) => s + (h.reward as number), 0) / hs.length;
    return {
      mode: "absolute",
      name,
      criterion: null,
      key: callId,
      tags: [callId],
      judge,
      humans: hs,
      human: passOf(meanReward),
    };
  });
}

const flip = (choice: string) => (choice === "a" ? "b" : choice === "b" ? "a" : choice);

/** The people's most frequent choice; a tie between choices is a "tie". */
function consensus(choices: string[]): string {
  const counts = new Map<string, number>();
  for (const c of choices) counts.set(c, (counts.get(c) ?? 0) + 1);
  const top = Math.max(...counts.values());
  const leaders = [...counts].filter(([, n]) => n === top);
  return leaders.length === 1 ? (leaders[0] as [string, number])[0] : "tie";
}

/** Pairwise judges: each (judge, pair of tags) with a judge's choice and people's choices on the same pair. */
async function pairwiseItems(store: Store, name?: string): Promise<Item[]> {
  let q = store.db
    .selectFrom("comparisons as j")
    .innerJoin("comparisons as h", (join) =>
      join.on((eb) =>
        eb.or([
          eb.and([eb("h.a", "=", eb.ref("j.a")), eb("h.b", "=", eb.ref("j.b"))]),
          eb.and([eb("h.a", "=", eb.ref("j.b")), eb("h.b", "=", eb.ref("j.a"))]),
        ]),
      ),
    )
    // The same criterion, or both on the whole answer.
    .where((eb) =>
      eb.or([
        eb("h.criterion", "=", eb.ref("j.criterion")),
        eb.and([eb("h.criterion", "is", null), eb("j.criterion", "is", null)]),
      ]),
    )
    .select([
      "j.id as jId",
      "j.annotatorId as jName",
      "j.a as ja",
      "j.b as jb",
      "j.choice as jChoice",
      "j.reason as jReason",
      "j.createdAt as jAt",
      "j.criterion",
      "h.id as hId",
      "h.a as ha",
      "h.choice as hChoice",
      "h.reason as hReason",
      "h.annotatorId as hAnnotator",
      "h.source as hSource",
      "h.createdAt as hAt",
    ])
    .where("j.source", "=", "judge")
    .where("h.source", "in", HUMAN_SOURCES);
  if (name !== undefined) q = q.where("j.annotatorId", "=", name);
  const rows = await q.execute();
  const byKey = new Map<
    string,
    { name: string; criterion: string | null; a: string; b: string; judge: Label; humans: Map<string, Label> }
  >();
  for (const r of rows) {
    const jName = r.jName ?? "judge";
    // The pair is unordered for grouping; its items read in the order of the newest judge comparison.
    const [lo, hi] = r.ja < r.jb ? [r.ja, r.jb] : [r.jb, r.ja];
    const k = `${jName}\n${r.criterion ?? ""}\n${lo}\n${hi}`;
    const judge: Label = {
      id: r.jId,
      verdict: r.jChoice,
      reward: null,
      reason: r.jReason,
      annotatorId: jName,
      source: "judge",
      at: Number(r.jAt),
    };
    const acc = byKey.get(k) ?? {
      name: jName,
      criterion: r.criterion,
      a: r.ja,
      b: r.jb,
      judge,
      humans: new Map(),
    };
    if (newer(judge, acc.judge)) Object.assign(acc, { judge, a: r.ja, b: r.jb });
    // Kept in the person's own order; turned to the judge's once the newest judge comparison is known.
    acc.humans.set(r.hId, {
      id: r.hId,
      verdict: r.ha === lo ? r.hChoice : flip(r.hChoice),
      reward: null,
      reason: r.hReason,
      annotatorId: r.hAnnotator,
      source: r.hSource,
      at: Number(r.hAt),
    });
    byKey.set(k, acc);
  }
  return [...byKey.values()].map(({ name, criterion, a, b, judge, humans }) => {
    const toJudge = (v: string) => (a < b ? v : flip(v));
    const hs = [...humans.values()]
      .map((h) => ({ ...h, verdict: toJudge(h.verdict) }))
      .sort((x, y) => x.at - y.at);
    return {
      mode: "pairwise",
      name,
      criterion,
      key: `${a}\n${b}`,
      tags: [a, b],
      judge,
      humans: hs,
      human: consensus(hs.map((h) => h.verdict)),
    };
  });
}

function summarize(
  name: string,
  mode: Mode,
  criterion: string | null,
  models: string[],
  verdicts: number,
  items: readonly Item[],
): JudgeSummary {
  const labels = mode === "absolute" ? ABSOLUTE_LABELS : PAIRWISE_LABELS;
  const counts = labels.map(() => labels.map(() => 0));
  let agree = 0;
  for (const it of items) {
    const i = labels.indexOf(it.judge.verdict);
    const j = labels.indexOf(it.human);
    if (i >= 0 && j >= 0) (counts[i] as number[])[j] = ((counts[i] as number[])[j] as number) + 1;
    if (it.judge.verdict === it.human) agree++;
  }
  const n = items.length;
  const k = cohenKappaTable(counts);
  return {
    name,
    mode,
    criterion,
    models,
    verdicts,
    labelled: n,
    agreement: {
      n,
      agree,
      rate: n ? agree / n : null,
      rateCi: wilson(agree, n),
      kappa: k.kappa,
      kappaSe: k.se,
      kappaCi: k.ci,
    },
    confusion: { labels, counts },
    calibrated: n >= CALIBRATED_MIN,
    disagreements: n - agree,
  };
}

/** How many calls each absolute judge gave a verdict on, and with which models. */
async function absoluteCounts(store: Store, name?: string) {
  let calls = store.db
    .selectFrom("annotations")
    .innerJoin("callAnnotations", "callAnnotations.annotationId", "annotations.id")
    .select(["annotations.name", (eb) => eb.fn.count<string>("callAnnotations.callId").distinct().as("n")])
    .where("annotations.source", "=", "judge")
    .where("annotations.numericReward", "is not", null)
    .groupBy("annotations.name");
  let models = store.db
    .selectFrom("annotations")
    .select(["name", "annotatorId"])
    .distinct()
    .where("source", "=", "judge")
    .where("numericReward", "is not", null);
  if (name !== undefined) {
    calls = calls.where("annotations.name", "=", name);
    models = models.where("name", "=", name);
  }
  const out = new Map<string, { verdicts: number; models: string[] }>();
  for (const r of await calls.execute()) out.set(r.name, { verdicts: Number(r.n), models: [] });
  for (const r of await models.execute()) if (r.annotatorId) out.get(r.name)?.models.push(r.annotatorId);
  for (const v of out.values()) v.models.sort();
  return out;
}

/** How many distinct pairs each pairwise judge chose on. */
async function pairwiseCounts(store: Store, name?: string) {
  let q = store.db
    .selectFrom("comparisons")
    .select(["annotatorId", "criterion", "a", "b"])
    .distinct()
    .where("source", "=", "judge");
  if (name !== undefined) q = q.where("annotatorId", "=", name);
  const pairs = new Map<string, { name: string; criterion: string | null; keys: Set<string> }>();
  for (const r of await q.execute()) {
    const n = r.annotatorId ?? "judge";
    const k = `${n}\n${r.criterion ?? ""}`;
    const acc = pairs.get(k) ?? { name: n, criterion: r.criterion, keys: new Set() };
    acc.keys.add(r.a < r.b ? `${r.a}\n${r.b}` : `${r.b}\n${r.a}`);
    pairs.set(k, acc);
  }
  return [...pairs.values()];
}

const groupKey = (name: string, criterion: string | null) => `${name}\n${criterion ?? ""}`;

function group(items: Item[]): Map<string, Item[]> {
  const out = new Map<string, Item[]>();
  for (const it of items) {
    const k = groupKey(it.name, it.criterion);
    out.set(k, [...(out.get(k) ?? []), it]);
  }
  return out;
}

async function judgesWithItems(store: Store, name?: string) {
  const [absCounts, pairCounts, abs, pair] = await Promise.all([
    absoluteCounts(store, name),
    pairwiseCounts(store, name),
    absoluteItems(store, name),
    pairwiseItems(store, name),
  ]);
  const absItems = group(abs);
  const pairItems = group(pair);
  const summaries: JudgeSummary[] = [];
  for (const [n, c] of absCounts)
    summaries.push(
      summarize(n, "absolute", null, c.models, c.verdicts, absItems.get(groupKey(n, null)) ?? []),
    );
  for (const p of pairCounts)
    summaries.push(
      summarize(
        p.name,
        "pairwise",
        p.criterion,
        [],
        p.keys.size,
        pairItems.get(groupKey(p.name, p.criterion)) ?? [],
      ),
    );
  summaries.sort(
    (x, y) =>
      x.name.localeCompare(y.name) ||
      x.mode.localeCompare(y.mode) ||
      (x.criterion ?? "").localeCompare(y.criterion ?? ""),
  );
  return { summaries, items: [...abs, ...pair] };
}

/** `GET /api/judges`: every judge seen, with its agreement with people. */
export async function listJudges(store: Store): Promise<JudgeSummary[]> {
  return (await judgesWithItems(store)).summaries;
}

/**
 * `GET /api/judges/:name/calibration`: the judge's summary (one per mode it judged in) and the items where its
 * verdict differs from the people's, newest verdict first, `limit` a page.
 *
 * @throws HttpError 404 when no judge of that name gave a verdict; 400 naming `cursor` for a foreign cursor.
 */
export async function judgeCalibration(
  store: Store,
  name: string,
  opts: { cursor?: string; limit: number },
): Promise<CalibrationPage> {
  const after = opts.cursor === undefined ? undefined : decodeCursor(opts.cursor);
  const { summaries, items } = await judgesWithItems(store, name);
  if (summaries.length === 0) throw new HttpError(404, `no judge named ${name}`, { field: "name" });
  const sortKey = (it: Item) => `${it.mode}\n${it.criterion ?? ""}\n${it.key}`;
  const disagreeing = items
    .filter((it) => it.judge.verdict !== it.human)
    .sort(
      (x, y) => y.judge.at - x.judge.at || (sortKey(y) < sortKey(x) ? -1 : sortKey(y) > sortKey(x) ? 1 : 0),
    )
    .filter((it) => !after || it.judge.at < after.t || (it.judge.at === after.t && sortKey(it) < after.id));
  const page = disagreeing.slice(0, opts.limit);
  const previews = await previewsByTag(
    store,
    page.flatMap((it) => it.tags),
  );
  const iso = (t: number) => new Date(t).toISOString();
  const last = page.at(-1);
  return {
    name,
    judges: summaries,
    data: page.map((it) => ({
      mode: it.mode,
      key: it.key,
      criterion: it.criterion,
      at: iso(it.judge.at),
      calls: it.tags.map((tag) => {
        const p = previews.get(tag);
        return { tag, callId: p?.callId ?? null, input: p?.input ?? null, output: p?.output ?? null };
      }),
      judge: {
        id: it.judge.id,
        verdict: it.judge.verdict,
        reward: it.judge.reward,
        reason: it.judge.reason,
        annotatorId: it.judge.annotatorId,
      },
      human: it.human,
      humans: it.humans.map((h) => ({ ...h, at: iso(h.at) })),
    })),
    nextCursor: last && disagreeing.length > opts.limit ? encodeCursor(last.judge.at, sortKey(last)) : null,
  };
}

const calibrationQuery = z.object({
  cursor: text(4000).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** `GET /api/judges` and `GET /api/judges/:name/calibration`. */
export const judgesRoutes = (store: Store): RouteTable => [
  route({
    method: "get",
    path: "/judges",
    scope: "read",
    summary:
      "Every judge seen, with its agreement with people on the same items (Cohen's kappa, confusion table)",
    response: judgesListSchema,
    handler: async () => ({ data: await listJudges(store) }),
  }),
  route({
    method: "get",
    path: "/judges/:name/calibration",
    scope: "read",
    summary: "Where a judge disagrees with people, newest verdict first, to refine its prompt",
    query: calibrationQuery,
    response: calibrationPageSchema,
    errors: { 404: "no judge of that name" },
    handler: ({ params, query }) => judgeCalibration(store, params.name, query),
  }),
];
