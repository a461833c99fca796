/**
 * Runs conversation evaluation items: regenerate the turn through this server's proxy (so the call is logged and
 * priced), then ask the judge once per criterion whether the regeneration or the original is better (one call
 * per criterion: the evaluations' pairwise prompt with the criterion as its rubric, so each verdict is parsed
 * and position-balanced exactly as evaluation verdicts are). Each verdict is a `comparisons` row with its
 * criterion, the regeneration as `a`.
 *
 * Items are claimed with a lease as evaluation items are (evals/worker.ts): on PostgreSQL the rows are locked
 * with FOR UPDATE SKIP LOCKED and then updated, on SQLite one UPDATE with its subquery is atomic, so several
 * instances share the work and an item whose worker died is taken again when its lease ends. The lease is
 * short (30 s) and a heartbeat extends it while the item is in flight, as in evals/worker.ts and live/worker.ts:
 * a killed instance's items wait half a minute, not the length of the slowest regeneration. Only the lease
 * holder can finish an item; comparisons have ids derived from the item and criterion, so a rerun stores none
 * twice.
 *
 * Each call's cost is priced from its usage (cost.ts) and added to its item at once. An evaluation with
 * `maxCostUsd` whose items' total has reached it gets no new item started: its waiting items are skipped and
 * it ends `stopped`. Items already in flight finish, so the total may pass the cap by what they cost.
 */
import type { ExpressionBuilder, Kysely } from "kysely";
import type { AppContext } from "../context.ts";
import {
  baselineFirst,
  errorMessage,
  hash32,
  outcomeOf,
  pairwisePrompt,
  parsePairwise,
  postThroughProxy,
} from "../evals/index.ts";
import type { Database } from "../store/index.ts";
import { readJsonObject } from "../store/json.ts";
import { originalTag } from "./book.ts";
import { callCost } from "./cost.ts";
import type { ConversationEvalDefinition } from "./schemas.ts";

const MAX_ATTEMPTS = 3;

type Claimed = { evalId: string; itemIndex: number; lease: string };

export interface RunnerOptions {
  /** Items run at once in this instance (default 4). */
  concurrency?: number;
  /** How long a claimed item stays locked without a heartbeat, ms (default 30 s). */
  leaseMs?: number;
}

export class ConversationRunner {
  readonly #ctx: AppContext;
  readonly #concurrency: number;
  readonly #leaseMs: number;
  /** The leases of the items in flight, which the heartbeat keeps locked. */
  readonly #leases = new Set<string>();
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #id = `cr${Math.random().toString(36).slice(2, 8)}`;
  #seq = 0;
  #busy = 0;
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;
  readonly #abort = new AbortController();
  readonly #inflight = new Set<Promise<void>>();

  constructor(ctx: AppContext, opts: RunnerOptions = {}) {
    this.#ctx = ctx;
    this.#concurrency = opts.concurrency ?? 4;
    this.#leaseMs = opts.leaseMs ?? 30_000;
    this.#heartbeat = setInterval(() => void this.#beat(), Math.max(50, this.#leaseMs / 3));
    this.#heartbeat.unref();
  }

  start(): void {
    this.#timer = setInterval(() => void this.tick(), 250);
    this.#timer.unref();
  }

  /**
   * Stops claiming and abandons the items in flight. Their leases are not handed back: they end as a killed
   * instance's do, and the items are claimed again then (a regeneration already made is kept).
   */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    clearInterval(this.#heartbeat);
    this.#abort.abort(new Error("server closing"));
    await Promise.allSettled([...this.#inflight]);
  }

  /** Extends the locks of the items in flight; a failure is retried by the next beat, before the lease ends. */
  async #beat(): Promise<void> {
    if (this.#leases.size === 0 || this.#abort.signal.aborted) return;
    try {
      await this.#ctx.store.db
        .updateTable("conversationEvalItems")
        .set({ lockedUntil: Date.now() + this.#leaseMs })
        .where("lease", "in", [...this.#leases])
        .where("status", "=", "running")
        .execute();
    } catch (err) {
      this.#ctx.log.warn(`conversations: heartbeat failed: ${String(err)}`);
    }
  }

  /** Claims what there is room for and starts it. Never throws: the store may be down for a while. */
  async tick(): Promise<void> {
    if (this.#ticking || this.#abort.signal.aborted) return;
    this.#ticking = true;
    try {
      const room = this.#concurrency - this.#busy;
      if (room <= 0) return;
      await this.#enforceCaps();
      for (const item of await this.#claim(room)) {
        this.#busy++;
        this.#leases.add(item.lease);
        const p = this.#run(item)
          .catch((err: unknown) =>
            this.#ctx.log.warn(`conversations: item ${item.itemIndex}: ${String(err)}`),
          )
          .finally(() => {
            this.#busy--;
            this.#leases.delete(item.lease);
            this.#inflight.delete(p);
          });
        this.#inflight.add(p);
      }
    } catch (err) {
      this.#ctx.log.warn(`conversations: claiming items failed: ${String(err)}`);
    } finally {
      this.#ticking = false;
    }
  }

  async #claim(n: number): Promise<Claimed[]> {
    const { store } = this.#ctx;
    const now = Date.now();
    const lease = `${this.#id}.${++this.#seq}`;
    const claimable = (eb: ExpressionBuilder<Database, "conversationEvalItems">) =>
      eb.or([
        eb.and([
          eb("conversationEvalItems.status", "=", "pending"),
          eb.or([
            eb("conversationEvalItems.lockedUntil", "is", null),
            eb("conversationEvalItems.lockedUntil", "<=", now),
          ]),
        ]),
        eb.and([
          eb("conversationEvalItems.status", "=", "running"),
          eb("conversationEvalItems.lockedUntil", "<=", now),
        ]),
      ]);
    const set = {
      status: "running",
      lease,
      lockedUntil: now + this.#leaseMs,
    };
    const claim = (db: Kysely<Database>, keys: Array<{ evalId: string; itemIndex: number }> | undefined) =>
      db
        .updateTable("conversationEvalItems")
        .set((eb) => ({ ...set, attempts: eb("attempts", "+", 1) }))
        .where(claimable)
        .$call((q) =>
          keys
            ? q.where((eb) =>
                eb.or(
                  keys.map((k) => eb.and([eb("evalId", "=", k.evalId), eb("itemIndex", "=", k.itemIndex)])),
                ),
              )
            : q.where((eb) =>
                eb(
                  eb.refTuple("evalId", "itemIndex"),
                  "in",
                  eb
                    .selectFrom("conversationEvalItems")
                    .select(["conversationEvalItems.evalId", "conversationEvalItems.itemIndex"])
                    .where(claimable)
                    .orderBy("conversationEvalItems.evalId")
                    .orderBy("conversationEvalItems.itemIndex")
                    .limit(n)
                    .$asTuple("evalId", "itemIndex"),
                ),
              ),
        )
        .returning(["evalId", "itemIndex", "lease"])
        .execute();
    const rows = store.dialect.supportsSkipLocked
      ? await store.db.transaction().execute(async (trx) => {
          const locked = await trx
            .selectFrom("conversationEvalItems")
            .select(["evalId", "itemIndex"])
            .where(claimable)
            .orderBy("evalId")
            .orderBy("itemIndex")
            .limit(n)
            .forUpdate()
            .skipLocked()
            .execute();
          return locked.length ? claim(trx, locked) : [];
        })
      : await claim(store.db, undefined);
    return rows.map((r) => ({ evalId: r.evalId, itemIndex: r.itemIndex, lease: r.lease as string }));
  }

  async #run(c: Claimed): Promise<void> {
    const { store } = this.#ctx;
    const item = await store.db
      .selectFrom("conversationEvalItems")
      .selectAll()
      .where("evalId", "=", c.evalId)
      .where("itemIndex", "=", c.itemIndex)
      .executeTakeFirstOrThrow();
    const ev = await store.db
      .selectFrom("conversationEvals")
      .select("definition")
      .where("id", "=", c.evalId)
      .executeTakeFirstOrThrow();
    const def = readJsonObject(ev.definition) as unknown as ConversationEvalDefinition;
    const candidate = def.candidates.find((x) => x.name === item.candidate);
    const opts = { signal: this.#abort.signal, onRateLimited: () => {} };
    const mine = (q: ReturnType<typeof this.update>) => q.where("lease", "=", c.lease);
    try {
      let regenCallId = item.regenCallId;
      let regen = item.regen;
      if (regenCallId === null || regen === null) {
        const posted = await postThroughProxy(
          this.#ctx,
          candidate?.upstream,
          readJsonObject(item.request) ?? {},
          { "x-intersebd-tags": `conversation-eval:${c.evalId}` },
          opts,
        );
        const msg = (posted.body?.choices as Array<{ message?: { content?: unknown } }> | undefined)?.[0]
          ?.message;
        if (posted.status !== 200 || typeof msg?.content !== "string" || !posted.callId)
          throw new Error(`regeneration: ${posted.status === 200 ? "no text answer" : errorMessage(posted)}`);
        await this.#addCost(c, readJsonObject(item.request)?.model, posted.body);
        regenCallId = posted.callId;
        regen = msg.content;
        // Kept at once: a retry of the judging does not regenerate (nor pay) again.
        await mine(this.update(c).set({ regenCallId, regen })).execute();
      }
      const b = item.originalCallId ?? originalTag(c.evalId, c.itemIndex);
      for (const crit of def.criteria) {
        const jdef = {
          type: "judge" as const,
          mode: "pairwise" as const,
          name: crit.name,
          model: def.judge.model,
          upstream: def.judge.upstream,
          rubric: crit.description,
        };
        // The original plays the evaluations' baseline: its side is drawn per item and criterion.
        const first = baselineFirst(hash32(`${c.evalId}:${crit.name}`), c.itemIndex);
        const [ansA, ansB] = first ? [item.original, regen] : [regen, item.original];
        const posted = await postThroughProxy(
          this.#ctx,
          def.judge.upstream,
          {
            model: def.judge.model,
            messages: pairwisePrompt(jdef, item.judgeContext, ansA, ansB),
            temperature: 0,
          },
          { "x-intersebd-tags": `conversation-eval:${c.evalId}` },
          opts,
        );
        await this.#addCost(c, def.judge.model, posted.body);
        const content = (posted.body?.choices as Array<{ message?: { content?: unknown } }> | undefined)?.[0]
          ?.message?.content;
        const parsed =
          posted.status === 200 && typeof content === "string"
            ? parsePairwise(content)
            : { ok: false as const, error: `judge: ${errorMessage(posted)}` };
        if (!parsed.ok) throw new Error(`judge on "${crit.name}": ${parsed.error}`);
        const outcome = outcomeOf(parsed.choice, first);
        await store.db
          .insertInto("comparisons")
          .values({
            id: `cmp_conv_${c.evalId}_${c.itemIndex}_${hash32(crit.name).toString(36)}`,
            a: regenCallId,
            b,
            choice: outcome === "win" ? "a" : outcome === "loss" ? "b" : "tie",
            reason: parsed.reason || null,
            annotatorId: def.judge.model,
            source: "judge",
            createdAt: Date.now(),
            criterion: crit.name,
          })
          .onConflict((oc) => oc.column("id").doNothing())
          .execute();
      }
      await mine(
        this.update(c).set({ status: "done", lease: null, lockedUntil: null, error: null }),
      ).execute();
    } catch (err) {
      if (this.#abort.signal.aborted) return;
      const attempts = Number(item.attempts);
      const error = err instanceof Error ? err.message : String(err);
      await mine(
        this.update(c).set(
          attempts >= MAX_ATTEMPTS
            ? { status: "failed", error, lease: null, lockedUntil: null }
            : { status: "pending", error, lease: null, lockedUntil: Date.now() + 1000 * 2 ** attempts },
        ),
      ).execute();
    }
    await this.#finishIfDone(c.evalId);
  }

  /** Adds a call's price to its item, whoever holds the lease now: the money is spent either way. */
  async #addCost(c: Claimed, model: unknown, body: Record<string, unknown> | null): Promise<void> {
    const usd = callCost(model, body);
    if (usd === undefined) return;
    await this.update(c)
      .set((eb) =>
        usd === null
          ? { unpricedCalls: eb("unpricedCalls", "+", 1) }
          : { costUsd: eb(eb.fn.coalesce("costUsd", eb.val(0)), "+", usd) },
      )
      .execute();
  }

  /**
   * Skips the waiting items of every running evaluation whose calls' cost has reached its `maxCostUsd`
   * (and those whose lease ended: their instance died), so none is claimed; the evaluation then ends `stopped`
   * once its items in flight are done.
   */
  async #enforceCaps(): Promise<void> {
    const { db } = this.#ctx.store;
    const capped = await db
      .selectFrom("conversationEvals as e")
      .select("e.id")
      .where("e.status", "=", "running")
      .where("e.maxCostUsd", "is not", null)
      .where((eb) =>
        eb(
          eb
            .selectFrom("conversationEvalItems as i")
            .select((sb) => sb.fn.coalesce(sb.fn.sum<number>("i.costUsd"), sb.val(0)).as("spent"))
            .whereRef("i.evalId", "=", "e.id"),
          ">=",
          eb.ref("e.maxCostUsd"),
        ),
      )
      .execute();
    for (const { id } of capped) {
      const now = Date.now();
      await db
        .updateTable("conversationEvalItems")
        .set({ status: "skipped", error: "maxCostUsd reached before it ran", lease: null, lockedUntil: null })
        .where("evalId", "=", id)
        .where((eb) =>
          eb.or([
            eb("status", "=", "pending"),
            eb.and([eb("status", "=", "running"), eb("lockedUntil", "<=", now)]),
          ]),
        )
        .execute();
      await this.#finishIfDone(id);
    }
  }

  update(c: Claimed) {
    return this.#ctx.store.db
      .updateTable("conversationEvalItems")
      .where("evalId", "=", c.evalId)
      .where("itemIndex", "=", c.itemIndex);
  }

  async #finishIfDone(evalId: string): Promise<void> {
    const left = await this.#ctx.store.db
      .selectFrom("conversationEvalItems")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("evalId", "=", evalId)
      .where("status", "in", ["pending", "running"])
      .executeTakeFirst();
    if (Number(left?.n ?? 0) > 0) return;
    const skipped = await this.#ctx.store.db
      .selectFrom("conversationEvalItems")
      .select("itemIndex")
      .where("evalId", "=", evalId)
      .where("status", "=", "skipped")
      .limit(1)
      .executeTakeFirst();
    await this.#ctx.store.db
      .updateTable("conversationEvals")
      .set({ status: skipped ? "stopped" : "done", finishedAt: Date.now() })
      .where("id", "=", evalId)
      .where("status", "=", "running")
      .execute();
  }
}
