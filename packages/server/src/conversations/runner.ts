/**
 * Runs conversation evaluation items: regenerate the turn through this server's proxy (so the call is logged and
 * priced), then ask the judge once per criterion whether the regeneration or the original is better (one call
 * per criterion: the evaluations' pairwise prompt with the criterion as its rubric, so each verdict is parsed
 * and position-balanced exactly as evaluation verdicts are). Each verdict is a `comparisons` row with its
 * criterion, the regeneration as `a`.
 *
 * Items are claimed with a lease as evaluation items are (evals/worker.ts): on PostgreSQL the rows are locked
 * with FOR UPDATE SKIP LOCKED and then updated, on SQLite one UPDATE with its subquery is atomic, so several
 * instances share the work and an item whose worker died is taken again when its lease ends. Only the lease
 * holder can finish an item; comparisons have ids derived from the item and criterion, so a rerun stores none
 * twice.
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
import type { ConversationEvalDefinition } from "./schemas.ts";

const LEASE_MS = 5 * 60_000;
const MAX_ATTEMPTS = 3;

type Claimed = { evalId: string; itemIndex: number; lease: string };

export class ConversationRunner {
  readonly #ctx: AppContext;
  readonly #concurrency: number;
  readonly #id = `cr${Math.random().toString(36).slice(2, 8)}`;
  #seq = 0;
  #busy = 0;
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;
  readonly #abort = new AbortController();
  readonly #inflight = new Set<Promise<void>>();

  constructor(ctx: AppContext, opts: { concurrency?: number } = {}) {
    this.#ctx = ctx;
    this.#concurrency = opts.concurrency ?? 4;
  }

  start(): void {
    this.#timer = setInterval(() => void this.tick(), 250);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#abort.abort(new Error("server closing"));
    await Promise.allSettled([...this.#inflight]);
  }

  /** Claims what there is room for and starts it. Never throws: the store may be down for a while. */
  async tick(): Promise<void> {
    if (this.#ticking || this.#abort.signal.aborted) return;
    this.#ticking = true;
    try {
      const room = this.#concurrency - this.#busy;
      if (room <= 0) return;
      for (const item of await this.#claim(room)) {
        this.#busy++;
        const p = this.#run(item)
          .catch((err: unknown) =>
            this.#ctx.log.warn(`conversations: item ${item.itemIndex}: ${String(err)}`),
          )
          .finally(() => {
            this.#busy--;
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
      lockedUntil: now + LEASE_MS,
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
    if (Number(left?.n ?? 0) === 0)
      await this.#ctx.store.db
        .updateTable("conversationEvals")
        .set({ status: "done", finishedAt: Date.now() })
        .where("id", "=", evalId)
        .where("status", "=", "running")
        .execute();
  }
}
