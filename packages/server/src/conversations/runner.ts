/**
 * Runs conversation evaluation items: regenerate the turn through this server's proxy (so the call is logged and
 * priced), then ask the judge once per criterion whether the regeneration or the original is better (one call
 * per criterion: the evaluations' pairwise prompt with the criterion as its rubric, so each verdict is parsed
 * and position-balanced exactly as evaluation verdicts are). Each verdict is a `comparisons` row with its
 * criterion, the regeneration as `a`.
 *
 * Items are leased as evaluation items and live evaluators' jobs are (store/leases.ts), so several instances
 * share the work and an item whose worker died is taken again when its lease ends. The lease is short (30 s) and
 * a heartbeat extends it while the item is in flight: a killed instance's items wait half a minute, not the
 * length of the slowest regeneration. Only the lease holder can finish an item; comparisons have ids derived
 * from the item and criterion, so a rerun stores none twice.
 *
 * Each call's cost is priced from its usage (cost.ts) and added to its item at once. An evaluation with
 * `maxCostUsd` whose items' total has reached it gets no new item started: its waiting items are skipped and
 * it ends `stopped`. Items already in flight finish, so the total may pass the cap by what they cost.
 */
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
import { readJsonObject } from "../store/json.ts";
import { type Claimed, LeasedWorker, type LeasedWorkerOptions, LeaseQueue } from "../store/leases.ts";
import { originalTag } from "./book.ts";
import { callCost } from "./cost.ts";
import type { ConversationEvalDefinition } from "./schemas.ts";

const MAX_ATTEMPTS = 3;

const itemsQueue = (ctx: AppContext) =>
  new LeaseQueue(ctx.store, {
    table: "conversationEvalItems",
    waiting: "pending",
    key: ["evalId", "itemIndex"],
  });
type Item = Claimed<"conversationEvalItems", "evalId" | "itemIndex">;

export interface RunnerOptions extends LeasedWorkerOptions {
  /** Items run at once in this instance (default 4). */
  concurrency?: number;
}

export class ConversationRunner extends LeasedWorker {
  readonly #ctx: AppContext;
  readonly #items: ReturnType<typeof itemsQueue>;
  readonly #concurrency: number;

  constructor(ctx: AppContext, opts: RunnerOptions = {}) {
    super("conversations runner", "cr", ctx.log, { pollMs: 250, ...opts });
    this.#ctx = ctx;
    this.#items = itemsQueue(ctx);
    this.#concurrency = opts.concurrency ?? 4;
  }

  protected heartbeat(leases: string[]): Promise<void> {
    return this.#items.extend(leases, this.leaseMs);
  }

  /** Claims what there is room for and starts it, once the evaluations over their cost cap are stopped. */
  protected async claimAll(): Promise<void> {
    const room = this.#concurrency - this.inFlight;
    if (room <= 0) return;
    await this.#enforceCaps();
    for (const item of await this.#items.claim(room, this.nextLease(), this.leaseMs))
      this.runTask(`${item.evalId}:${item.itemIndex}`, item.evalId, item.lease, (signal) =>
        this.#run(item, signal),
      );
  }

  /**
   * Regenerates and judges one item. Stopped (`signal`), it hands nothing back: its lease ends as a killed
   * instance's does, and the item is claimed again then (a regeneration already made is kept).
   */
  async #run(c: Item, signal: AbortSignal): Promise<void> {
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
    const opts = { signal, onRateLimited: () => {} };
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
        await this.#update(c).set({ regenCallId, regen }).where("lease", "=", c.lease).execute();
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
      await this.#items.settle(c, { status: "done", error: null });
    } catch (err) {
      if (signal.aborted) return;
      const attempts = Number(item.attempts);
      const error = err instanceof Error ? err.message : String(err);
      if (attempts >= MAX_ATTEMPTS) await this.#items.settle(c, { status: "failed", error });
      else await this.#items.release(c, 1000 * 2 ** attempts, true, { error });
    }
    await this.#finishIfDone(c.evalId);
  }

  /** Adds a call's price to its item, whoever holds the lease now: the money is spent either way. */
  async #addCost(c: Item, model: unknown, body: Record<string, unknown> | null): Promise<void> {
    const usd = callCost(model, body);
    if (usd === undefined) return;
    await this.#update(c)
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

  #update(c: Item) {
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
