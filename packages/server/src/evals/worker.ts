/**
 * The evaluation worker: claims items of active runs from the store and processes them, with per-run bounded
 * concurrency. One runs in every server process (started by the evals routes); any number of processes share
 * the work, because items are claimed with a lease:
 *
 * - PostgreSQL: `UPDATE … WHERE item_index IN (SELECT … FOR UPDATE SKIP LOCKED)`, so instances never wait on
 *   each other's rows; SQLite: the same single UPDATE, atomic because SQLite has one writer.
 * - A claim sets `lease` (a token) and `locked_until`; while an item is in flight a heartbeat extends the lock.
 *   Only the lease holder can finish the item, so an item is done exactly once even if two workers ran it.
 * - A worker that dies stops its heartbeat; its items are reclaimed once `locked_until` passes. A worker that
 *   stops cleanly (server shutdown, run cancelled) hands its items back at once.
 * - Failures: a 429 is waited out inside the item (and holds back the run's other items in this worker);
 *   other errors are retried with back-off up to `maxAttempts` claims, then the item fails; an error that
 *   retrying cannot fix (the candidate rejects the request) fails it at once.
 */
import type { ExpressionBuilder, Kysely } from "kysely";
import { type Database, OutageLog, storeUnavailableReason } from "../store/index.ts";
import { newId } from "../util/ids.ts";
import type { CheckDef, CustomCheck } from "./checks.ts";
import { PermanentError, TransientError } from "./errors.ts";
import { type ClaimedItem, type ItemOutcome, type LoadedRun, processItem } from "./item.ts";
import { ACTIVE, type EvalDeps } from "./runs.ts";
import type { Candidate } from "./schemas.ts";

export interface WorkerOptions {
  /** How long a claimed item stays locked without a heartbeat, ms (default 30 s). */
  leaseMs?: number;
  /** Idle polling interval, ms (default 1 s); new runs and finished items wake the worker at once. */
  pollMs?: number;
  /** Claims per item before it fails (default 3). */
  maxAttempts?: number;
  /** Only these runs (a process running one evaluation from code); default: every run. */
  onlyRuns?: ReadonlySet<string>;
}

interface Task {
  runId: string;
  index: number;
  lease: string;
  abort: AbortController;
  done: Promise<void>;
}

export class EvalWorker {
  readonly id = newId("wkr");
  readonly #deps: EvalDeps;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #maxAttempts: number;
  readonly #onlyRuns: ReadonlySet<string> | undefined;
  readonly #tasks = new Map<string, Task>();
  readonly #runs = new Map<string, LoadedRun>();
  readonly #code = new Map<string, Map<string, CustomCheck>>();
  readonly #pausedUntil = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  /** One warn line per database outage, not one per poll, heartbeat and item. */
  readonly #outage: OutageLog;
  /** Polls in a row that failed because the store was unreachable: the next poll waits longer. */
  #failedPolls = 0;
  #ticking = false;
  #again = false;
  #stopped = true;
  #seq = 0;

  constructor(deps: EvalDeps, opts: WorkerOptions = {}) {
    this.#deps = deps;
    this.#leaseMs = opts.leaseMs ?? 30_000;
    this.#pollMs = opts.pollMs ?? 1000;
    this.#maxAttempts = opts.maxAttempts ?? 3;
    this.#onlyRuns = opts.onlyRuns;
    this.#outage = new OutageLog("evals worker", deps.log);
  }

  /** Reports a failure of the store; false when `err` is something else (a bug or a refused query). */
  #storeFailed(err: unknown): boolean {
    const reason = storeUnavailableReason(err);
    if (reason) this.#outage.failed(reason);
    return reason !== undefined;
  }

  /** Items in flight in this worker. */
  get inFlight(): number {
    return this.#tasks.size;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#heartbeat = setInterval(() => void this.#beat(), Math.max(100, this.#leaseMs / 3));
    this.#heartbeat.unref();
    // The first look waits a poll interval: a server mounting its routes is not listening yet, and new runs
    // poke the worker anyway.
    this.#schedule();
  }

  /** Looks for work now (a run was created or resumed). */
  poke(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), 0);
    this.#timer.unref();
  }

  /** Lets this worker run a run whose checks include functions (only the process that has them can). */
  provideCode(runId: string, checks: ReadonlyArray<CustomCheck>): void {
    this.#code.set(runId, new Map(checks.map((c) => [c.name, c])));
    this.poke();
  }

  /** Stops claiming, abandons the items in flight and hands them back to the store. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#heartbeat);
    for (const t of this.#tasks.values()) t.abort.abort();
    await Promise.allSettled([...this.#tasks.values()].map((t) => t.done));
  }

  #schedule(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    // While the store is unreachable, polls back off (doubling, up to 30 s) instead of hammering it.
    const delay =
      this.#failedPolls === 0 ? this.#pollMs : Math.min(30_000, this.#pollMs * 2 ** (this.#failedPolls - 1));
    this.#timer = setTimeout(() => void this.#tick(), delay);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    this.#ticking = true;
    let failed = false;
    try {
      await this.#claimAll();
      this.#failedPolls = 0;
      this.#outage.succeeded();
    } catch (err) {
      failed = this.#storeFailed(err);
      if (failed) this.#failedPolls++;
      else this.#deps.log.warn(`evals: worker poll failed: ${(err as Error).message}`);
    } finally {
      this.#ticking = false;
      // A poke during a failed poll would retry at once; the back-off wins while the store is down.
      if (this.#again && !failed) {
        this.#again = false;
        this.poke();
      } else this.#schedule();
    }
  }

  async #claimAll(): Promise<void> {
    const { db } = this.#deps.store;
    const code = [...this.#code.keys()];
    const active = await db
      .selectFrom("evalRuns")
      .select(["id", "status", "candidate", "checks", "seed", "concurrency"])
      .where("status", "in", ACTIVE)
      .where((eb) =>
        code.length ? eb.or([eb("needsCode", "=", 0), eb("id", "in", code)]) : eb("needsCode", "=", 0),
      )
      .$if(this.#onlyRuns !== undefined, (q) => q.where("id", "in", [...(this.#onlyRuns ?? []), ""]))
      .orderBy("createdAt")
      .execute();
    const activeIds = new Set(active.map((r) => r.id));
    // A run cancelled elsewhere: drop its items in flight here (they go back to pending).
    for (const t of this.#tasks.values()) if (!activeIds.has(t.runId)) t.abort.abort();
    for (const id of this.#runs.keys()) {
      if (activeIds.has(id)) continue;
      this.#runs.delete(id);
      this.#pausedUntil.delete(id);
    }

    const now = Date.now();
    for (const r of active) {
      if (this.#stopped) return;
      if ((this.#pausedUntil.get(r.id) ?? 0) > now) continue;
      let run = this.#runs.get(r.id);
      if (!run) {
        run = {
          id: r.id,
          candidate: JSON.parse(r.candidate) as Candidate,
          checks: JSON.parse(r.checks) as CheckDef[],
          seed: Number(r.seed),
          concurrency: r.concurrency,
        };
        this.#runs.set(r.id, run);
      }
      const inFlight = [...this.#tasks.values()].filter((t) => t.runId === r.id).length;
      const free = run.concurrency - inFlight;
      if (free <= 0) continue;
      const claimed = await this.#claim(r.id, free);
      if (claimed.length === 0) {
        if (inFlight === 0) await this.#finishIfComplete(r.id);
        continue;
      }
      if (r.status === "queued")
        await db
          .updateTable("evalRuns")
          .set({ status: "running", startedAt: Date.now() })
          .where("id", "=", r.id)
          .where("status", "=", "queued")
          .execute();
      for (const item of claimed) this.#startTask(run, item);
    }
  }

  async #claim(runId: string, n: number): Promise<ClaimedItem[]> {
    const { store } = this.#deps;
    const now = Date.now();
    const lease = `${this.id}.${++this.#seq}`;
    const claimable = (eb: ExpressionBuilder<Database, "evalItems">) =>
      eb.or([
        eb.and([
          eb("evalItems.status", "=", "pending"),
          eb.or([eb("evalItems.lockedUntil", "is", null), eb("evalItems.lockedUntil", "<=", now)]),
        ]),
        eb.and([eb("evalItems.status", "=", "running"), eb("evalItems.lockedUntil", "<=", now)]),
      ]);
    const claim = (db: Kysely<Database>, indexes: number[] | undefined) =>
      db
        .updateTable("evalItems")
        .set((eb) => ({
          status: "running",
          lease,
          lockedUntil: now + this.#leaseMs,
          attempts: eb("attempts", "+", 1),
        }))
        .where("runId", "=", runId)
        .where(claimable)
        .$call((q) =>
          indexes
            ? q.where("itemIndex", "in", indexes)
            : q.where("itemIndex", "in", (eb) =>
                eb
                  .selectFrom("evalItems")
                  .select("evalItems.itemIndex")
                  .where("evalItems.runId", "=", runId)
                  .where(claimable)
                  .orderBy("evalItems.itemIndex")
                  .limit(n),
              ),
        )
        .returning(["runId", "itemIndex", "baselineCallId", "attempts", "lease", "attemptCallId"])
        .execute();
    // SQLite: one UPDATE with the subquery is atomic (one writer). PostgreSQL: lock the rows first and
    // update them by index; with `IN (SELECT … FOR UPDATE SKIP LOCKED)` inline, PostgreSQL may re-run the
    // subquery per row, see the rows it just updated, and claim more than `n`.
    const rows = store.dialect.supportsSkipLocked
      ? await store.db.transaction().execute(async (trx) => {
          const locked = await trx
            .selectFrom("evalItems")
            .select("evalItems.itemIndex")
            .where("evalItems.runId", "=", runId)
            .where(claimable)
            .orderBy("evalItems.itemIndex")
            .limit(n)
            .forUpdate()
            .skipLocked()
            .execute();
          return locked.length
            ? claim(
                trx,
                locked.map((r) => r.itemIndex),
              )
            : [];
        })
      : await claim(store.db, undefined);
    return rows.map((r) => ({ ...r, lease: r.lease as string })).sort((a, b) => a.itemIndex - b.itemIndex);
  }

  #startTask(run: LoadedRun, item: ClaimedItem): void {
    const abort = new AbortController();
    const key = `${run.id}:${item.itemIndex}`;
    const task: Task = {
      runId: run.id,
      index: item.itemIndex,
      lease: item.lease,
      abort,
      done: Promise.resolve(),
    };
    this.#tasks.set(key, task);
    task.done = this.#runTask(run, item, abort.signal).finally(() => {
      this.#tasks.delete(key);
      this.poke();
    });
  }

  async #runTask(run: LoadedRun, item: ClaimedItem, signal: AbortSignal): Promise<void> {
    const log = this.#deps.log;
    try {
      if (item.attempts > this.#maxAttempts) {
        await this.#fail(item, `gave up after ${this.#maxAttempts} attempts that ended without a result`);
        return;
      }
      const outcome = await processItem(this.#deps, run, item, {
        signal,
        custom: this.#code.get(run.id) ?? new Map(),
        onRateLimited: (ms) => this.#pausedUntil.set(run.id, Date.now() + ms),
      });
      if (signal.aborted) {
        await this.#release(item, 0, false);
        return;
      }
      if (!(await this.#complete(item, outcome)))
        log.warn(`evals: ${run.id} item ${item.itemIndex} finished after its lease passed to another worker`);
    } catch (err) {
      try {
        if (signal.aborted) await this.#release(item, 0, false);
        else if (err instanceof PermanentError) await this.#fail(item, err.message);
        else if (err instanceof TransientError) {
          log.warn(`evals: ${run.id} item ${item.itemIndex}: ${err.message}; retrying`);
          await this.#release(item, 2000, false);
        } else if (this.#storeFailed(err)) {
          // The database went away while the item ran: not the item's fault, so the attempt is given back.
          await this.#release(item, 2000, false);
        } else if (item.attempts < this.#maxAttempts) {
          log.warn(
            `evals: ${run.id} item ${item.itemIndex} attempt ${item.attempts}: ${(err as Error).message}`,
          );
          await this.#release(item, 1000 * 2 ** item.attempts, true);
        } else await this.#fail(item, (err as Error).message);
      } catch (storeErr) {
        // The store is unreachable: the item stays leased and is reclaimed when the lease ends.
        if (!this.#storeFailed(storeErr))
          log.error(`evals: cannot record ${run.id} item ${item.itemIndex}: ${(storeErr as Error).message}`);
      }
    }
  }

  /** Records the item's results, if this worker still holds its lease. */
  async #complete(item: ClaimedItem, outcome: ItemOutcome): Promise<boolean> {
    const now = Date.now();
    return this.#deps.store.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable("evalItems")
        .set({
          status: "done",
          candidateCallId: outcome.candidateCallId,
          results: JSON.stringify(outcome.results),
          costUsd: outcome.costUsd,
          error: null,
          lease: null,
          lockedUntil: null,
          finishedAt: now,
        })
        .where("runId", "=", item.runId)
        .where("itemIndex", "=", item.itemIndex)
        .where("lease", "=", item.lease)
        .where("status", "=", "running")
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) return false;
      const rows = outcome.results.checks.map((c) => ({
        runId: item.runId,
        itemIndex: item.itemIndex,
        checkName: c.name,
        callId: outcome.candidateCallId,
        pass: c.pass === null ? null : c.pass ? 1 : 0,
        score: c.score ?? null,
        createdAt: now,
      }));
      if (rows.length)
        await trx
          .insertInto("evalCheckResults")
          .values(rows)
          .onConflict((oc) => oc.columns(["runId", "itemIndex", "checkName"]).doNothing())
          .execute();
      return true;
    });
  }

  async #fail(item: ClaimedItem, error: string): Promise<void> {
    await this.#deps.store.db
      .updateTable("evalItems")
      .set({ status: "failed", error, lease: null, lockedUntil: null, finishedAt: Date.now() })
      .where("runId", "=", item.runId)
      .where("itemIndex", "=", item.itemIndex)
      .where("lease", "=", item.lease)
      .execute();
  }

  /** Hands an item back, claimable after `delayMs`; `counted: false` gives back the attempt too. */
  async #release(item: ClaimedItem, delayMs: number, counted: boolean): Promise<void> {
    await this.#deps.store.db
      .updateTable("evalItems")
      .set((eb) => ({
        status: "pending",
        lease: null,
        lockedUntil: Date.now() + delayMs,
        ...(counted ? {} : { attempts: eb("attempts", "-", 1) }),
      }))
      .where("runId", "=", item.runId)
      .where("itemIndex", "=", item.itemIndex)
      .where("lease", "=", item.lease)
      .execute();
  }

  async #beat(): Promise<void> {
    const leases = [...new Set([...this.#tasks.values()].map((t) => t.lease))];
    if (leases.length === 0) return;
    try {
      await this.#deps.store.db
        .updateTable("evalItems")
        .set({ lockedUntil: Date.now() + this.#leaseMs })
        .where("lease", "in", leases)
        .where("status", "=", "running")
        .execute();
    } catch (err) {
      if (!this.#storeFailed(err)) this.#deps.log.warn(`evals: heartbeat failed: ${(err as Error).message}`);
    }
  }

  /** Ends a run whose every item has a result. Safe to race: only one worker's update matches. */
  async #finishIfComplete(runId: string): Promise<void> {
    const { db } = this.#deps.store;
    const rows = await db
      .selectFrom("evalItems")
      .select((eb) => [
        "status",
        eb.fn.countAll<number>().as("n"),
        eb.fn.sum<number | null>("costUsd").as("cost"),
      ])
      .where("runId", "=", runId)
      .groupBy("status")
      .execute();
    let done = 0;
    let failed = 0;
    let open = 0;
    let cost: number | null = null;
    for (const r of rows) {
      const n = Number(r.n);
      if (r.status === "done") done = n;
      else if (r.status === "failed") failed = n;
      else open += n;
      if (r.cost !== null) cost = (cost ?? 0) + Number(r.cost);
    }
    if (open > 0) return;
    await db
      .updateTable("evalRuns")
      .set({
        status: done === 0 && failed > 0 ? "failed" : "done",
        done,
        failed,
        costUsd: cost === null ? null : Math.round(cost * 1e10) / 1e10,
        finishedAt: Date.now(),
      })
      .where("id", "=", runId)
      .where("status", "in", ACTIVE)
      .execute();
    this.#runs.delete(runId);
    this.#pausedUntil.delete(runId);
    this.#code.delete(runId);
  }
}
