/**
 * Which calls a rule evaluates, and the jobs that say so. New calls are enqueued by a hook in the calls' insert
 * transaction (calls/insert.ts's `InsertHook`, wired in server.ts): it decides from the rows it is handed, in
 * memory, and writes one batched INSERT … ON CONFLICT DO NOTHING, so the recorder's batch pays one statement
 * and the proxy nothing. Backfill enqueues the calls of a time range the same way, in bounded pages.
 *
 * Sampling is a hash of (evaluator id, call id), never a random draw: every instance, and a backfill over calls
 * already seen live, takes the same calls.
 */
import { BUCKETS, bucketOf } from "intersebd/experiments";
import type { Transaction } from "kysely";
import type { InsertHook } from "../calls/index.ts";
import type { Database, NewCallRow, Store } from "../store/index.ts";
import { readJsonObject, readStringArray } from "../store/json.ts";
import type { Logger } from "../util/log.ts";
import type { Evaluator, Filter } from "./schemas.ts";

/** What a filter reads of a call: the columns of a stored row or of one being inserted. */
export type MatchedCall = Pick<
  NewCallRow,
  | "id"
  | "requestedModel"
  | "servedModel"
  | "upstream"
  | "tags"
  | "metadata"
  | "experiment"
  | "variant"
  | "source"
>;

/**
 * Calls made by judges (evaluations', experiments', live evaluators', floor judges' under their caller's tag)
 * and by conversation evaluations (their regenerations and judges): never evaluated live, or a rule whose
 * filter they match would judge its own judge calls, without end. Moderation calls are never stored (the
 * proxy stores chat calls only), so they cannot match.
 */
const JUDGE_TAG = /^(?:live-judge|eval-judge|exp-judge|conversation-eval):/;

/** Whether the rule's hash of the call falls within its sample. */
export function sampled(evaluatorId: string, sample: number, callId: string): boolean {
  if (sample >= 1) return true;
  if (sample <= 0) return false;
  return bucketOf(evaluatorId, "live", callId) < Math.round(sample * BUCKETS);
}

/** Whether a call passes the filter (every field given holds); judge calls never do. */
export function matches(filter: Filter, call: MatchedCall): boolean {
  if (filter.model !== undefined && call.requestedModel !== filter.model && call.servedModel !== filter.model)
    return false;
  if (filter.upstream !== undefined && call.upstream !== filter.upstream) return false;
  if (filter.experiment !== undefined && call.experiment !== filter.experiment) return false;
  if (filter.variant !== undefined && call.variant !== filter.variant) return false;
  if (filter.source !== undefined && (call.source ?? "proxy") !== filter.source) return false;
  const tags = readStringArray(call.tags);
  if (tags.some((t) => JUDGE_TAG.test(t))) return false;
  if (filter.tags?.length && !filter.tags.every((t) => tags.includes(t) || t === call.id)) return false;
  if (filter.metadata && Object.keys(filter.metadata).length) {
    const metadata = readJsonObject(call.metadata) ?? {};
    for (const [k, v] of Object.entries(filter.metadata)) if (metadata[k] !== v) return false;
  }
  return true;
}

interface JobRow {
  evaluatorId: string;
  callId: string;
  status: "queued";
  origin: "live" | "backfill";
  attempts: number;
  enqueuedAt: number;
}

/** Inserts jobs that do not exist yet; answers how many were new. */
async function insertJobs(db: Store["db"] | Transaction<Database>, jobs: JobRow[]): Promise<number> {
  let n = 0;
  for (let i = 0; i < jobs.length; i += 500) {
    const r = await db
      .insertInto("liveJobs")
      .values(jobs.slice(i, i + 500))
      .onConflict((oc) => oc.columns(["evaluatorId", "callId"]).doNothing())
      .executeTakeFirst();
    n += Number(r.numInsertedOrUpdatedRows ?? 0);
  }
  return n;
}

function jobsFor(
  rules: readonly Evaluator[],
  calls: readonly MatchedCall[],
  origin: JobRow["origin"],
): JobRow[] {
  const now = Date.now();
  const jobs: JobRow[] = [];
  for (const e of rules)
    for (const c of calls)
      if (sampled(e.id, e.sample, c.id) && matches(e.filter, c))
        jobs.push({
          evaluatorId: e.id,
          callId: c.id,
          status: "queued",
          origin,
          attempts: 0,
          enqueuedAt: now,
        });
  return jobs;
}

/**
 * The enabled rules, held in memory for the insert hook (which must not query for them in every batch):
 * loaded at start, refreshed on a timer, and at once after a change through this instance's API.
 */
export class LiveRules {
  #rules: Evaluator[] = [];
  #timer: NodeJS.Timeout | undefined;
  #listener: ((rules: readonly Evaluator[]) => void) | undefined;
  readonly #store: Store;
  readonly #log: Logger;

  constructor(store: Store, log: Logger) {
    this.#store = store;
    this.#log = log;
  }

  get rules(): readonly Evaluator[] {
    return this.#rules;
  }

  /**
   * Called with the rules after every refresh: the writer of calls (calls/writer.ts), which runs this hook in
   * another thread or process, gets them from here (`replace`) rather than reading them itself.
   */
  onRefresh(listener: (rules: readonly Evaluator[]) => void): void {
    this.#listener = listener;
    listener(this.#rules);
  }

  /** Holds `rules` (enabled ones) as if read: a writer's copy of the rules another `LiveRules` refreshes. */
  replace(rules: readonly Evaluator[]): void {
    this.#rules = [...rules];
  }

  /** Reads the enabled rules again; a failure keeps the ones held (the store may be away a moment). */
  async refresh(): Promise<void> {
    try {
      // Loaded when first used, as `backfill`'s calls door: the writer thread (writer.ts) loads this module for the
      // insert hook alone, and holds rules it is sent (`replace`); the book and the door would bring the checks'
      // validators, zod and the HTTP layer into its memory.
      const { listEvaluators } = await import("./book.ts");
      this.#rules = (await listEvaluators(this.#store)).filter((e) => e.enabled);
      this.#listener?.(this.#rules);
    } catch (err) {
      this.#log.warn(`live evaluators: cannot read the rules, keeping ${this.#rules.length}: ${String(err)}`);
    }
  }

  /** Refreshes every `everyMs` until `stop()`: how another instance's change reaches this one. */
  startRefreshing(everyMs = 5000): void {
    clearInterval(this.#timer);
    this.#timer = setInterval(() => void this.refresh(), everyMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** The calls' insert hook: one batched INSERT of the jobs of the chunk's sampled, matching calls. */
  hook(): InsertHook {
    return {
      begin: async () => {},
      afterInsert: async (trx, _ids, rows) => {
        const rules = this.#rules;
        if (rules.length === 0 || !rows?.length) return;
        let jobs: JobRow[];
        try {
          jobs = jobsFor(rules, rows, "live");
        } catch (err) {
          // A rule that cannot be applied must not fail the calls' insert: those calls go unevaluated.
          this.#log.error(`live evaluators: enqueueing failed, calls not evaluated: ${String(err)}`);
          return;
        }
        if (jobs.length) await insertJobs(trx, jobs);
      },
    };
  }
}

const BACKFILL_PAGE = 500;

/**
 * Enqueues the rule's sampled, matching calls started in [from, to), page by page (newest first by keyset, so
 * calls arriving meanwhile neither shift nor repeat a page). A call already evaluated or queued is left as it is.
 */
export async function backfill(
  store: Store,
  evaluator: Evaluator,
  range: { from: number; to: number },
): Promise<{ scanned: number; enqueued: number }> {
  const { callConditions } = await import("../calls/index.ts");
  const f = evaluator.filter;
  let scanned = 0;
  let enqueued = 0;
  let cursor: { startedAt: number; id: string } | undefined;
  for (;;) {
    const page = await store.db
      .selectFrom("calls")
      .select([
        "id",
        "startedAt",
        "requestedModel",
        "servedModel",
        "upstream",
        "tags",
        "metadata",
        "experiment",
        "variant",
        "source",
      ])
      .where(
        callConditions(store, {
          from: range.from,
          to: range.to,
          outcome: undefined,
          ...(f.upstream ? { upstream: [f.upstream] } : {}),
          ...(f.model ? { model: [f.model] } : {}),
          ...(f.experiment ? { experiment: f.experiment } : {}),
          ...(f.variant ? { variant: f.variant } : {}),
          ...(f.source ? { source: f.source } : {}),
        }),
      )
      .$if(cursor !== undefined, (q) => {
        const c = cursor as { startedAt: number; id: string };
        return q.where((eb) =>
          eb.or([
            eb("calls.startedAt", "<", c.startedAt),
            eb.and([eb("calls.startedAt", "=", c.startedAt), eb("calls.id", "<", c.id)]),
          ]),
        );
      })
      .orderBy("calls.startedAt", "desc")
      .orderBy("calls.id", "desc")
      .limit(BACKFILL_PAGE)
      .execute();
    if (page.length === 0) break;
    const matching = page.filter((c) => matches(f, c));
    scanned += matching.length;
    enqueued += await insertJobs(store.db, jobsFor([evaluator], matching, "backfill"));
    const last = page[page.length - 1] as (typeof page)[number];
    cursor = { startedAt: Number(last.startedAt), id: last.id };
    if (page.length < BACKFILL_PAGE) break;
  }
  return { scanned, enqueued };
}
