/**
 * Conversation evaluations in the store: creating one (sessions cut into items), its items, human choices per
 * criterion, and the report.
 */
import { candidateRequest, renderConversation, wilson } from "../evals/index.ts";
import { HttpError } from "../http/error.ts";
import type { Store } from "../store/index.ts";
import { readJson, readJsonObject } from "../store/json.ts";
import { newId } from "../util/ids.ts";
import { getSession } from "../views/index.ts";
import { bradleyTerry, type Outcome } from "./bradley-terry.ts";
import { type ConversationEstimate, enforceCap, estimateCost } from "./cost.ts";
import { contextOf, dialogueOf, slicesOf, textOf } from "./dialogue.ts";
import {
  type ChoicesInput,
  type ConversationEvalDefinition,
  type CreateConversationEvalInput,
  DEFAULT_CRITERIA,
} from "./schemas.ts";

/** Items one evaluation may hold: sessions × slices × candidates × context lengths. */
export const MAX_ITEMS = 20_000;

export const CAVEAT =
  "Distribution shift: each regeneration answers a context the original model produced. A candidate that " +
  "would have steered the conversation elsewhere is not measured; these numbers compare single turns inside " +
  "the original's conversations, not whole conversations with the candidate.";

export function definitionOf(input: CreateConversationEvalInput): ConversationEvalDefinition {
  return {
    sessions: [...new Set([...(input.sessions ?? []), ...(input.sessionIds ?? [])])],
    candidates: input.candidates,
    criteria: (input.criteria ?? DEFAULT_CRITERIA).map((c) =>
      typeof c === "string"
        ? (DEFAULT_CRITERIA.find((d) => d.name === c) ?? {
            name: c,
            description: `Which answer is better on ${c}?`,
          })
        : { name: c.name, description: c.description ?? `Which answer is better on ${c.name}?` },
    ),
    contextLengths: input.contextLengths ?? [null, 4],
    sliceLength: input.sliceLength,
    stride: input.stride,
    judge: input.judge,
  };
}

/**
 * Creates the evaluation and its items; the runner picks them up. With `maxCostUsd`, refuses an estimate over
 * it (or one that cannot be priced) before anything is stored.
 * @throws HttpError 400 naming the field.
 */
export async function createConversationEval(
  store: Store,
  input: CreateConversationEvalInput,
): Promise<{ id: string; total: number; sessions: number; slices: number; estimate: ConversationEstimate }> {
  const def = definitionOf(input);
  const id = newId("conv");
  const items: Array<Record<string, unknown>> = [];
  let slices = 0;
  for (const [si, sessionId] of def.sessions.entries()) {
    const field = input.sessions ? `sessions[${si}]` : `sessionIds[${si}]`;
    const session = await getSession(store, sessionId).catch((err: unknown) => {
      if (err instanceof HttpError && err.status === 404)
        throw new HttpError(400, `${field}: no calls with session id "${sessionId}"`, { field });
      throw err;
    });
    const d = dialogueOf(session.calls);
    if (!d) throw new HttpError(400, `${field}: the session has no chat messages`, { field });
    const base = d.requestCall.request ?? {};
    for (const slice of slicesOf(d.turns, def.sliceLength, def.stride)) {
      slices++;
      const judgeContext = renderConversation(contextOf(d, slice, null));
      for (const c of def.candidates)
        for (const contextLength of def.contextLengths) {
          const request = candidateRequest({ ...base, messages: contextOf(d, slice, contextLength) }, c);
          items.push({
            evalId: id,
            itemIndex: items.length,
            sessionId,
            sliceStart: slice.start,
            targetIndex: slice.target,
            candidate: c.name,
            contextLength,
            request: JSON.stringify(request),
            judgeContext,
            original: textOf(d.turns[slice.target]),
            originalCallId: d.producedBy[slice.target] ?? null,
            status: "pending",
            attempts: 0,
          });
          if (items.length > MAX_ITEMS)
            throw new HttpError(
              400,
              `sessions: more than ${MAX_ITEMS} items; fewer sessions or a longer stride`,
              {
                field: "sessions",
              },
            );
        }
    }
  }
  if (items.length === 0)
    throw new HttpError(400, "sessions: no slice has an assistant turn to regenerate", { field: "sessions" });
  const estimate = estimateCost(
    items.map((it) => ({
      request: JSON.parse(it.request as string) as { model?: unknown; messages?: unknown },
      judgeContext: it.judgeContext as string,
      original: it.original as string,
    })),
    def.judge.model,
    def.criteria.length,
  );
  enforceCap(estimate, input.maxCostUsd);
  await store.db.transaction().execute(async (trx) => {
    await trx
      .insertInto("conversationEvals")
      .values({
        id,
        status: "running",
        definition: JSON.stringify(def),
        total: items.length,
        createdAt: Date.now(),
        finishedAt: null,
        maxCostUsd: input.maxCostUsd ?? null,
        estimateUsd: estimate.totalUsd,
      })
      .execute();
    for (let i = 0; i < items.length; i += 200)
      await trx
        .insertInto("conversationEvalItems")
        // biome-ignore lint/suspicious/noExplicitAny: the rows are built above with the table's columns
        .values(items.slice(i, i + 200) as any)
        .execute();
  });
  return { id, total: items.length, sessions: def.sessions.length, slices, estimate };
}

async function requireEval(store: Store, id: string) {
  const row = await store.db
    .selectFrom("conversationEvals")
    .selectAll()
    .where("id", "=", id)
    .executeTakeFirst();
  if (!row) throw new HttpError(404, `no conversation evaluation "${id}"`, { field: "id" });
  return { ...row, definition: readJsonObject(row.definition) as unknown as ConversationEvalDefinition };
}

export type ItemView = {
  index: number;
  sessionId: string;
  sliceStart: number;
  targetIndex: number;
  candidate: string;
  contextLength: number | null;
  status: string;
  error: string | null;
  request: unknown;
  original: string;
  originalCallId: string | null;
  regenCallId: string | null;
  regen: string | null;
};

export async function listItems(store: Store, id: string, page: { limit: number; offset: number }) {
  await requireEval(store, id);
  const rows = await store.db
    .selectFrom("conversationEvalItems")
    .selectAll()
    .where("evalId", "=", id)
    .orderBy("itemIndex")
    .limit(page.limit)
    .offset(page.offset)
    .execute();
  const data: ItemView[] = rows.map((r) => ({
    index: r.itemIndex,
    sessionId: r.sessionId,
    sliceStart: r.sliceStart,
    targetIndex: r.targetIndex,
    candidate: r.candidate,
    contextLength: r.contextLength === null ? null : Number(r.contextLength),
    status: r.status,
    error: r.error,
    request: readJson(r.request),
    original: r.original,
    originalCallId: r.originalCallId,
    regenCallId: r.regenCallId,
    regen: r.regen,
  }));
  return { data };
}

/** Where the original turn is named in comparisons when no stored call produced it. */
export const originalTag = (evalId: string, index: number) => `conv:${evalId}:${index}:original`;

/**
 * A person's choices on one item, one per criterion (a tie allowed), stored as comparisons with the
 * regeneration as `a` (so "a" is a win for the candidate), whichever side the page showed it on.
 */
export async function recordChoices(store: Store, id: string, index: number, input: ChoicesInput) {
  const ev = await requireEval(store, id);
  const item = await store.db
    .selectFrom("conversationEvalItems")
    .selectAll()
    .where("evalId", "=", id)
    .where("itemIndex", "=", index)
    .executeTakeFirst();
  if (!item) throw new HttpError(404, `no item ${index} in "${id}"`, { field: "index" });
  if (!item.regenCallId) throw new HttpError(409, `item ${index} is not regenerated yet`, { field: "index" });
  const original = item.originalCallId ?? originalTag(id, index);
  if (input.a !== item.regenCallId && input.a !== original)
    throw new HttpError(
      400,
      `a: neither the regeneration (${item.regenCallId}) nor the original (${original})`,
      {
        field: "a",
      },
    );
  const flip = input.a !== item.regenCallId;
  const known = new Set(ev.definition.criteria.map((c) => c.name));
  const rows = Object.entries(input.choices).map(([criterion, choice]) => {
    if (!known.has(criterion))
      throw new HttpError(400, `choices.${criterion}: not a criterion of this evaluation`, {
        field: `choices.${criterion}`,
      });
    const oriented = !flip || choice === "tie" ? choice : choice === "a" ? "b" : "a";
    return {
      id: newId("cmp"),
      a: item.regenCallId as string,
      b: original,
      choice: oriented,
      reason: input.reason ?? null,
      annotatorId: input.annotatorId ?? null,
      source: "human",
      createdAt: Date.now(),
      criterion,
    };
  });
  if (rows.length === 0) throw new HttpError(400, "choices: give one per criterion", { field: "choices" });
  await store.db.insertInto("comparisons").values(rows).execute();
  return { stored: rows.length };
}

export interface Tally {
  n: number;
  wins: number;
  ties: number;
  losses: number;
  winRate: [number, number] | null;
  tieRate: [number, number] | null;
  lossRate: [number, number] | null;
}

export interface RankedCandidate {
  name: string;
  /** log-strength against the original (0 = as good as the original), its standard error and 95% interval. */
  theta: number;
  se: number;
  interval: [number, number];
  /** P(preferred to the original) = 1 / (1 + e^−θ), with the interval mapped the same way. */
  pBeatsOriginal: number;
  pInterval: [number, number];
}

const tally = (outcomes: Array<"win" | "tie" | "loss">): Tally => {
  const wins = outcomes.filter((o) => o === "win").length;
  const ties = outcomes.filter((o) => o === "tie").length;
  const n = outcomes.length;
  return {
    n,
    wins,
    ties,
    losses: n - wins - ties,
    winRate: wilson(wins, n),
    tieRate: wilson(ties, n),
    lossRate: wilson(n - wins - ties, n),
  };
};

const logistic = (t: number) => 1 / (1 + Math.exp(-t));

/**
 * The report: per source (judge, human), candidate, criterion and context length, the candidate's wins, ties
 * and losses against the original with Wilson intervals; with two or more candidates (three players with the
 * original), a Bradley–Terry ranking per source and criterion over all context lengths, the original as the
 * reference; the distribution-shift caveat.
 */
export async function conversationEvalReport(store: Store, id: string) {
  const ev = await requireEval(store, id);
  const def = ev.definition;
  const items = await store.db
    .selectFrom("conversationEvalItems")
    .select(["itemIndex", "candidate", "contextLength", "regenCallId", "status", "costUsd", "unpricedCalls"])
    .where("evalId", "=", id)
    .execute();
  const byCall = new Map(items.filter((i) => i.regenCallId).map((i) => [i.regenCallId as string, i]));
  type Row = {
    id: string;
    a: string;
    choice: string;
    source: string;
    criterion: string | null;
    annotatorId: string | null;
    createdAt: number | string;
  };
  const stored: Row[] = [];
  const callIds = [...byCall.keys()];
  for (let i = 0; i < callIds.length; i += 500)
    stored.push(
      ...(await store.db
        .selectFrom("comparisons")
        .select(["id", "a", "choice", "source", "criterion", "annotatorId", "createdAt"])
        .where("a", "in", callIds.slice(i, i + 500))
        .where("criterion", "is not", null)
        .execute()),
    );
  // A person who answers an item again (a reload, a changed mind) counts once: their latest choice per
  // criterion. Anonymous choices cannot be told apart and all count.
  const latest = new Map<string, Row>();
  const comparisons: Row[] = [];
  for (const c of stored) {
    if (c.source !== "human" || c.annotatorId === null) comparisons.push(c);
    else {
      const key = `${c.a}\u0000${c.annotatorId}\u0000${c.criterion}`;
      const prev = latest.get(key);
      const later = (x: Row, y: Row) =>
        Number(x.createdAt) > Number(y.createdAt) ||
        (Number(x.createdAt) === Number(y.createdAt) && x.id > y.id);
      if (!prev || later(c, prev)) latest.set(key, c);
    }
  }
  comparisons.push(...latest.values());
  const ctxKey = (l: number | null) => (l === null ? "full" : String(l));
  const sources = ["judge", "human"] as const;
  const results = sources.map((source) => {
    const mine = comparisons.filter((c) => c.source === source);
    const outcomeOf = (choice: string) =>
      (choice === "a" ? "win" : choice === "b" ? "loss" : "tie") as "win" | "tie" | "loss";
    const cells = def.candidates.map((cand) => ({
      candidate: cand.name,
      criteria: def.criteria.map((crit) => ({
        criterion: crit.name,
        byContext: def.contextLengths.map((len) => ({
          contextLength: len,
          ...tally(
            mine
              .filter((c) => {
                const it = byCall.get(c.a);
                return (
                  it?.candidate === cand.name &&
                  c.criterion === crit.name &&
                  ctxKey(it.contextLength === null ? null : Number(it.contextLength)) === ctxKey(len)
                );
              })
              .map((c) => outcomeOf(c.choice)),
          ),
        })),
      })),
    }));
    const ranking =
      def.candidates.length >= 2
        ? def.criteria.map((crit) => {
            // Player 0 is the original (the reference), candidate k is player k + 1.
            const outcomes: Outcome[] = mine
              .filter((c) => c.criterion === crit.name && byCall.has(c.a))
              .map((c) => ({
                i: def.candidates.findIndex((x) => x.name === byCall.get(c.a)?.candidate) + 1,
                j: 0,
                score: c.choice === "a" ? 1 : c.choice === "b" ? 0 : 0.5,
              }));
            const fit = bradleyTerry(def.candidates.length + 1, outcomes, { reference: 0, prior: 1 });
            const ranked: RankedCandidate[] | null = fit
              ? def.candidates
                  .map((cand, k) => {
                    const s = fit[k + 1] as (typeof fit)[number];
                    return {
                      name: cand.name,
                      theta: s.theta,
                      se: s.se,
                      interval: s.interval,
                      pBeatsOriginal: logistic(s.theta),
                      pInterval: [logistic(s.interval[0]), logistic(s.interval[1])] as [number, number],
                    };
                  })
                  .sort((x, y) => y.theta - x.theta)
              : null;
            return { criterion: crit.name, ranked };
          })
        : null;
    return { source, comparisons: mine.length, candidates: cells, ranking };
  });
  const counts = { pending: 0, running: 0, done: 0, failed: 0, skipped: 0 };
  for (const i of items) if (i.status in counts) counts[i.status as keyof typeof counts]++;
  const spentUsd = Math.round(items.reduce((sum, i) => sum + Number(i.costUsd ?? 0), 0) * 1e8) / 1e8;
  const maxCostUsd = ev.maxCostUsd === null ? null : Number(ev.maxCostUsd);
  return {
    id,
    status: ev.status,
    createdAt: new Date(Number(ev.createdAt)).toISOString(),
    definition: def,
    progress: { total: ev.total, ...counts },
    cost: {
      estimateUsd: ev.estimateUsd === null ? null : Number(ev.estimateUsd),
      spentUsd,
      unpricedCalls: items.reduce((sum, i) => sum + Number(i.unpricedCalls ?? 0), 0),
      maxCostUsd,
      capReached: maxCostUsd !== null && spentUsd >= maxCostUsd,
    },
    results,
    caveat: CAVEAT,
  };
}

export async function listConversationEvals(store: Store) {
  const rows = await store.db
    .selectFrom("conversationEvals")
    .select(["id", "status", "total", "createdAt", "definition"])
    .orderBy("createdAt", "desc")
    .limit(100)
    .execute();
  return {
    data: rows.map((r) => {
      const d = readJsonObject(r.definition) as unknown as ConversationEvalDefinition;
      return {
        id: r.id,
        status: r.status,
        total: r.total,
        createdAt: new Date(Number(r.createdAt)).toISOString(),
        candidates: d.candidates.map((c) => c.name),
        sessions: d.sessions.length,
      };
    }),
  };
}

/** `GET /api/conversations/evals/:id`, as the CLI reads it. */
export type ConversationEvalReport = Awaited<ReturnType<typeof conversationEvalReport>>;
