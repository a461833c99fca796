/**
 * The evaluation worker: claims items of active runs from the store and processes them, with per-run bounded
 * concurrency. One runs in every server process (started by the evals routes); any number of processes share
 * the work, because items are leased (store/leases.ts: claims, heartbeats, only the lease holder finishes an
 * item, a dead worker's items are claimed again once their lease ends). A worker that stops cleanly (server
 * shutdown, run cancelled) hands its items back at once.
 *
 * Failures: a 429 is waited out inside the item (and holds back the run's other items in this worker); other
 * errors are retried with back-off up to `maxAttempts` claims, then the item fails; an error that retrying cannot
 * fix (the candidate rejects the request) fails it at once.
 */
import { LeasedWorker, type LeasedWorkerOptions, LeaseQueue } from "../store/leases.ts";
import type { CheckDef, CustomCheck } from "./checks.ts";
import { PermanentError, TransientError } from "./errors.ts";
import { type ClaimedItem, type ItemOutcome, type LoadedRun, processItem } from "./item.ts";
import { ACTIVE, type EvalDeps } from "./runs.ts";
import type { Candidate } from "./schemas.ts";

export interface WorkerOptions extends LeasedWorkerOptions {
  /** Claims per item before it fails (default 3). */
  maxAttempts?: number;
  /** Only these runs (a process running one evaluation from code); default: every run. */
  onlyRuns?: ReadonlySet<string>;
}

const itemsQueue = (deps: EvalDeps) =>
  new LeaseQueue(deps.store, {
    table: "evalItems",
    waiting: "pending",
    key: ["runId", "itemIndex"],
    returning: ["baselineCallId", "attemptCallId"],
  });

export class EvalWorker extends LeasedWorker {
  readonly #deps: EvalDeps;
  readonly #items: ReturnType<typeof itemsQueue>;
  readonly #maxAttempts: number;
  readonly #onlyRuns: ReadonlySet<string> | undefined;
  readonly #runs = new Map<string, LoadedRun>();
  readonly #code = new Map<string, Map<string, CustomCheck>>();
  readonly #pausedUntil = new Map<string, number>();

  constructor(deps: EvalDeps, opts: WorkerOptions = {}) {
    super("evals worker", "wkr", deps.log, opts);
    this.#deps = deps;
    this.#items = itemsQueue(deps);
    this.#maxAttempts = opts.maxAttempts ?? 3;
    this.#onlyRuns = opts.onlyRuns;
  }

  /** Lets this worker run a run whose checks include functions (only the process that has them can). */
  provideCode(runId: string, checks: ReadonlyArray<CustomCheck>): void {
    this.#code.set(runId, new Map(checks.map((c) => [c.name, c])));
    this.poke();
  }

  protected heartbeat(leases: string[]): Promise<void> {
    return this.#items.extend(leases, this.leaseMs);
  }

  protected async claimAll(): Promise<void> {
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
    this.abortGroups((runId) => !activeIds.has(runId));
    for (const id of this.#runs.keys()) {
      if (activeIds.has(id)) continue;
      this.#runs.delete(id);
      this.#pausedUntil.delete(id);
    }

    const now = Date.now();
    for (const r of active) {
      if (this.stopped) return;
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
      const inFlight = this.inFlightOf(r.id);
      const free = run.concurrency - inFlight;
      if (free <= 0) continue;
      const claimed = await this.#items.claim(free, this.nextLease(), this.leaseMs, { runId: r.id });
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
      for (const item of claimed) {
        const loaded = run;
        this.runTask(`${run.id}:${item.itemIndex}`, run.id, item.lease, (signal) =>
          this.#runItem(loaded, item, signal),
        );
      }
    }
  }

  async #runItem(run: LoadedRun, item: ClaimedItem, signal: AbortSignal): Promise<void> {
    const log = this.log;
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
        await this.#items.release(item, 0, false);
        return;
      }
      if (!(await this.#complete(item, outcome)))
        log.warn(`evals: ${run.id} item ${item.itemIndex} finished after its lease passed to another worker`);
    } catch (err) {
      try {
        if (signal.aborted) await this.#items.release(item, 0, false);
        else if (err instanceof PermanentError) await this.#fail(item, err.message);
        else if (err instanceof TransientError) {
          log.warn(`evals: ${run.id} item ${item.itemIndex}: ${err.message}; retrying`);
          await this.#items.release(item, 2000, false);
        } else if (this.storeFailed(err)) {
          // The database went away while the item ran: not the item's fault, so the attempt is given back.
          await this.#items.release(item, 2000, false);
        } else if (item.attempts < this.#maxAttempts) {
          log.warn(
            `evals: ${run.id} item ${item.itemIndex} attempt ${item.attempts}: ${(err as Error).message}`,
          );
          await this.#items.release(item, 1000 * 2 ** item.attempts, true);
        } else await this.#fail(item, (err as Error).message);
      } catch (storeErr) {
        // The store is unreachable: the item stays leased and is reclaimed when the lease ends.
        if (!this.storeFailed(storeErr))
          log.error(`evals: cannot record ${run.id} item ${item.itemIndex}: ${(storeErr as Error).message}`);
      }
    }
  }

  /** Records the item's results, if this worker still holds its lease. */
  async #complete(item: ClaimedItem, outcome: ItemOutcome): Promise<boolean> {
    const now = Date.now();
    return this.#deps.store.db.transaction().execute(async (trx) => {
      const settled = await this.#items.settle(
        item,
        {
          status: "done",
          candidateCallId: outcome.candidateCallId,
          results: JSON.stringify(outcome.results),
          costUsd: outcome.costUsd,
          error: null,
          finishedAt: now,
        },
        trx,
      );
      if (!settled) return false;
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
    await this.#items.settle(item, { status: "failed", error, finishedAt: Date.now() });
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
