/**
 * Jobs leased from a table of the store: the one protocol the evaluation items (`eval_items`), the live
 * evaluators' jobs (`live_jobs`) and the conversation evaluations' items (`conversation_eval_items`) share, so that
 * any number of server processes share their work and a process that dies loses none of it.
 *
 * - A job waits in its table with a waiting status (`pending`, `queued`). A claim sets `status = 'running'`, a
 *   `lease` (a token naming this worker and claim) and `locked_until`, and counts an attempt. A running job whose
 *   `locked_until` has passed is claimable again: its worker died.
 * - PostgreSQL: the candidates are locked `FOR UPDATE SKIP LOCKED`, then updated by key, in one transaction, so
 *   instances never wait on each other's rows (with `IN (SELECT … SKIP LOCKED)` inline, PostgreSQL may re-run the
 *   subquery per row, see the rows it just updated and claim more than asked). SQLite: one UPDATE with its
 *   subquery, atomic because SQLite has one writer.
 * - While a job runs, a heartbeat extends its lock. Only the lease holder ends a job (every end is conditioned on
 *   the lease), so a job is finished once even if two workers ran it.
 *
 * `LeaseQueue` is the SQL of that protocol for one table; `LeasedWorker` the loop around it (poll, claim, run,
 * heartbeat, back off while the store is down, stop), which each domain's worker extends with what it claims and
 * what it does with a job.
 */
import {
  type Expression,
  type ExpressionBuilder,
  type Kysely,
  type SqlBool,
  sql,
  type Transaction,
  type UpdateObject,
} from "kysely";
import { newId } from "../util/ids.ts";
import type { Logger } from "../util/log.ts";
import { OutageLog, storeUnavailableReason } from "./errors.ts";
import type { Store } from "./index.ts";
import type { Database } from "./schema.ts";

/** The columns every leased table has. */
interface LeaseColumns {
  status: string;
  lease: string | null;
  lockedUntil: number | null;
  attempts: number;
}

/** The store's tables that hold leased jobs. */
export type LeasedTable = {
  [T in keyof Database]: Database[T] extends LeaseColumns ? T : never;
}[keyof Database];

type Cell = string | number | null;
/**
 * One leased table as the queue sees it: the lease columns and the job's key and other cells by name. The queue
 * builds the same statements for every table; the typed schema is checked where a domain names its table, key
 * and columns (`LeaseQueueSpec<T>`).
 */
type LeaseDb = Record<string, LeaseColumns & Record<string, Cell>>;
/** What a domain sets when it ends a job, typed by its table. */
export type SetOf<T extends LeasedTable> =
  | UpdateObject<Database, T, T>
  | ((eb: ExpressionBuilder<Database, T>) => UpdateObject<Database, T, T>);
type LeaseSet =
  | UpdateObject<LeaseDb, string, string>
  | ((eb: ExpressionBuilder<LeaseDb, string>) => UpdateObject<LeaseDb, string, string>);
type Where = (eb: ExpressionBuilder<LeaseDb, string>) => Expression<SqlBool>;

type Column<T extends LeasedTable> = keyof Database[T] & string;

export interface LeaseQueueSpec<T extends LeasedTable, K extends Column<T>, C extends Column<T> = never> {
  table: T;
  /** The status of a job that waits for a worker. */
  waiting: string;
  /** The columns that name one job, in claim order: jobs are claimed in this order (after `orderBy`). */
  key: readonly [K, ...K[]];
  /** Columns that order the claims before the key (oldest first). */
  orderBy?: ReadonlyArray<Column<T>>;
  /** More columns a claim answers with the key (what the job needs to start). */
  returning?: readonly C[];
}

/** A claimed job: its key (and `returning` columns), its lease and the attempt this claim is (1 for the first). */
export type Claimed<T extends LeasedTable, K extends keyof Database[T]> = Pick<Database[T], K> & {
  lease: string;
  attempts: number;
};

export class LeaseQueue<T extends LeasedTable, K extends Column<T>, C extends Column<T> = never> {
  readonly #store: Store;
  readonly #spec: LeaseQueueSpec<T, K, C>;

  constructor(store: Store, spec: LeaseQueueSpec<T, K, C>) {
    this.#store = store;
    this.#spec = spec;
  }

  /** The store as the queue's statements see it (see `LeaseDb`). */
  #db(db: Kysely<Database> | Transaction<Database> = this.#store.db): Kysely<LeaseDb> {
    return db as unknown as Kysely<LeaseDb>;
  }

  /**
   * Claims up to `n` jobs that `scope` admits (all, without one) for `leaseMs`, under the lease `lease`.
   * Answers the claimed jobs in claim order.
   */
  async claim(
    n: number,
    lease: string,
    leaseMs: number,
    scope?: Partial<Pick<Database[T], Column<T>>>,
  ): Promise<Array<Claimed<T, K | C>>> {
    // The statements are the same for every leased table: built over the table's name as a plain string.
    const table: string = this.#spec.table;
    const key: readonly string[] = this.#spec.key;
    const waiting = this.#spec.waiting;
    const order: string[] = [...(this.#spec.orderBy ?? []), ...key];
    const now = Date.now();
    const scoped: Where = (eb) =>
      eb.and(Object.entries(scope ?? {}).map(([col, v]) => eb(eb.ref(col), "=", v as Cell)));
    const claimable: Where = (eb) =>
      eb.or([
        eb.and([
          eb(eb.ref(`${table}.status`), "=", waiting),
          eb.or([
            eb(eb.ref(`${table}.lockedUntil`), "is", null),
            eb(eb.ref(`${table}.lockedUntil`), "<=", now),
          ]),
        ]),
        eb.and([
          eb(eb.ref(`${table}.status`), "=", "running"),
          eb(eb.ref(`${table}.lockedUntil`), "<=", now),
        ]),
      ]);
    const candidates = (db: Kysely<LeaseDb>) =>
      db
        .selectFrom(table)
        .select(key.map((k) => `${table}.${k}`))
        .where(scoped)
        .where(claimable)
        .$call((q) => order.reduce((acc, col) => acc.orderBy(`${table}.${col}`), q))
        .limit(n);
    const keyRow = sql.join(key.map((k) => sql.ref(k)));
    const update = (db: Kysely<LeaseDb>, keyIn: Where) =>
      db
        .updateTable(table)
        .set((eb) => ({
          status: "running",
          lease,
          lockedUntil: now + leaseMs,
          attempts: eb(eb.ref("attempts"), "+", 1),
        }))
        .where(scoped)
        .where(claimable)
        .where(keyIn)
        .returning([...new Set([...order, ...(this.#spec.returning ?? []), "attempts", "lease"])])
        .execute();
    const rows = this.#store.dialect.supportsSkipLocked
      ? await this.#store.db.transaction().execute(async (trx) => {
          const locked = await candidates(this.#db(trx)).forUpdate().skipLocked().execute();
          if (locked.length === 0) return [];
          return update(this.#db(trx), (eb) =>
            eb.or(locked.map((row) => eb.and(key.map((k) => eb(eb.ref(k), "=", row[k] as Cell))))),
          );
        })
      : // An UPDATE takes SQLite's write lock even when it matches nothing, and waits (sleeping, on this loop) while
        // the writer thread commits a batch of calls: an idle poll looks first, with a read that takes no lock.
        (await candidates(this.#db()).execute()).length === 0
        ? []
        : await update(this.#db(), () => sql<SqlBool>`(${keyRow}) in (${candidates(this.#db())})`);
    const claimed = rows as unknown as Array<Claimed<T, K | C>>;
    const rank = (c: Claimed<T, K | C>) => order.map((k) => c[k as keyof typeof c] as Cell);
    // RETURNING gives no order: claim order is the order the caller starts them in.
    return claimed.sort((a, b) => compareRows(rank(a), rank(b)));
  }

  /** Moves the locks of the running jobs held under `leases` to `leaseMs` from now. */
  async extend(leases: string[], leaseMs: number): Promise<void> {
    if (leases.length === 0) return;
    await this.#db()
      .updateTable(this.#spec.table as string)
      .set({ lockedUntil: Date.now() + leaseMs })
      .where("lease", "in", leases)
      .where("status", "=", "running")
      .execute();
  }

  /**
   * Ends or hands back one job, if `job`'s lease still holds it: sets `set`, with the lease and lock cleared unless
   * `set` says otherwise. Answers whether it did (false: the lease passed to another worker).
   */
  async settle(
    job: Claimed<T, K>,
    set: SetOf<T>,
    db: Kysely<Database> | Transaction<Database> = this.#store.db,
  ): Promise<boolean> {
    const own = set as unknown as LeaseSet;
    const r = await this.#db(db)
      .updateTable(this.#spec.table as string)
      .set((eb) => ({ lease: null, lockedUntil: null, ...(typeof own === "function" ? own(eb) : own) }))
      .where((eb) =>
        eb.and(this.#spec.key.map((k: string) => eb(eb.ref(k), "=", job[k as keyof typeof job] as Cell))),
      )
      .where("lease", "=", job.lease)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /**
   * Hands a job back to the queue, claimable again after `delayMs`; `counted: false` gives back its attempt too (the
   * job was not at fault: the server closed, the store went away). `also` adds columns (a cost spent meanwhile).
   */
  release(job: Claimed<T, K>, delayMs: number, counted: boolean, also?: SetOf<T>): Promise<boolean> {
    const extra = also as unknown as LeaseSet | undefined;
    const set = (eb: ExpressionBuilder<LeaseDb, string>) => ({
      status: this.#spec.waiting,
      lockedUntil: Date.now() + delayMs,
      ...(counted ? {} : { attempts: eb(eb.ref("attempts"), "-", 1) }),
      ...(typeof extra === "function" ? extra(eb) : extra),
    });
    return this.settle(job, set as unknown as SetOf<T>);
  }
}

function compareRows(a: Cell[], b: Cell[]): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? "";
    const y = b[i] ?? "";
    if (x < y) return -1;
    if (x > y) return 1;
  }
  return 0;
}

export interface LeasedWorkerOptions {
  /** How long a claimed job stays locked without a heartbeat, ms (default 30 s). */
  leaseMs?: number;
  /**
   * Polling interval, ms (default 1 s); a `poke()` looks at once. A poll that finds nothing doubles the wait before
   * the next, up to `IDLE_POLL_FACTOR` times this (at most `IDLE_POLL_MAX_MS`, never less than this).
   */
  pollMs?: number;
}

/**
 * How far an idle worker's polls spread out. Each poll runs its queries on the proxy's event loop (SQLite answers
 * synchronously), 0.3 to 1 ms a time: an idle server's four workers, polling every 250 ms to 1 s, stalled its loop
 * about six times a second by a millisecond or more, which showed in the proxy's p99 at c=1. Work made in this
 * process pokes its worker, so an idle poll only finds another instance's new jobs and the jobs of an instance that
 * died (once their lease ends): seconds later is soon enough for both.
 */
const IDLE_POLL_FACTOR = 8;
const IDLE_POLL_MAX_MS = 5000;

interface Task {
  group: string;
  lease: string;
  abort: AbortController;
  done: Promise<void>;
}

/**
 * The loop of a worker over leased jobs. A subclass says how to claim (`claimAll`, calling `runTask` for each job it
 * claims) and which queue its leases live in (`heartbeat`); the loop polls, runs the jobs, keeps their leases
 * alive, backs off while the store is unreachable (one warn line per outage) and stops.
 */
export abstract class LeasedWorker {
  readonly id: string;
  protected readonly leaseMs: number;
  protected readonly log: Logger;
  readonly #pollMs: number;
  readonly #name: string;
  readonly #tasks = new Map<string, Task>();
  readonly #outage: OutageLog;
  #timer: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  /** Polls in a row that failed because the store was unreachable: the next poll waits longer. */
  #failedPolls = 0;
  /** Polls in a row that found nothing to run, nothing in flight: the next poll waits longer. */
  #idlePolls = 0;
  /** Jobs started so far (`runTask`): a poll that started none found nothing. */
  #started = 0;
  #ticking = false;
  #again = false;
  #stopped = true;
  #killed = false;
  #seq = 0;

  /** `name` says whose lines these are in the log ("evals worker"). */
  protected constructor(name: string, idPrefix: string, log: Logger, opts: LeasedWorkerOptions = {}) {
    this.id = newId(idPrefix);
    this.#name = name;
    this.log = log;
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.#pollMs = opts.pollMs ?? 1000;
    this.#outage = new OutageLog(name, log);
  }

  /** Claims what there is room for and starts it (`runTask`). May throw: the loop logs and backs off. */
  protected abstract claimAll(): Promise<void>;
  /** Extends the locks of the jobs held under `leases` (`LeaseQueue.extend`). */
  protected abstract heartbeat(leases: string[]): Promise<void>;

  /** Jobs in flight in this worker. */
  get inFlight(): number {
    return this.#tasks.size;
  }

  protected get stopped(): boolean {
    return this.#stopped;
  }

  /** Whether `kill()` was called: a killed worker writes nothing more. */
  protected get killed(): boolean {
    return this.#killed;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#heartbeat = setInterval(() => void this.#beat(), Math.max(50, this.leaseMs / 3));
    this.#heartbeat.unref();
    // The first look waits a poll interval: a server mounting its routes is not listening yet, and new work
    // pokes the worker anyway.
    this.#schedule();
  }

  /** Looks for work now. */
  poke(): void {
    if (this.#stopped) return;
    this.#idlePolls = 0;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.tick(), 0);
    this.#timer.unref();
  }

  /** Stops claiming, aborts the jobs in flight (each hands its job back, or not, as its worker decides). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#heartbeat);
    for (const t of this.#tasks.values()) t.abort.abort(new Error("the worker is stopping"));
    await Promise.allSettled([...this.#tasks.values()].map((t) => t.done));
  }

  /**
   * What a process killed mid-job leaves behind (tests): it stops at once and writes nothing more, so its jobs stay
   * leased until their lease ends.
   */
  async kill(): Promise<void> {
    this.#killed = true;
    await this.stop();
  }

  /** One pass of claiming, now; a pass under way runs once more after it instead. Never throws. */
  async tick(): Promise<void> {
    if (this.#stopped) return;
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    this.#ticking = true;
    let failed = false;
    const started = this.#started;
    try {
      await this.claimAll();
      this.#idlePolls = this.#started === started && this.#tasks.size === 0 ? this.#idlePolls + 1 : 0;
      this.#failedPolls = 0;
      this.#outage.succeeded();
    } catch (err) {
      failed = this.storeFailed(err);
      if (failed) this.#failedPolls++;
      else this.log.warn(`${this.#name}: poll failed: ${(err as Error).message}`);
    } finally {
      this.#ticking = false;
      // A poke during a failed poll would retry at once; the back-off wins while the store is down.
      if (this.#again && !failed) {
        this.#again = false;
        this.poke();
      } else this.#schedule();
    }
  }

  /** Reports a failure of the store; false when `err` is something else (a bug or a refused query). */
  protected storeFailed(err: unknown): boolean {
    const reason = storeUnavailableReason(err);
    if (reason) this.#outage.failed(reason);
    return reason !== undefined;
  }

  /** A new lease token: this worker's id and a sequence. */
  protected nextLease(): string {
    return `${this.id}.${++this.#seq}`;
  }

  /** Jobs of `group` (a run, a rule) in flight here. */
  protected inFlightOf(group: string): number {
    let n = 0;
    for (const t of this.#tasks.values()) if (t.group === group) n++;
    return n;
  }

  /** Aborts the jobs in flight whose group `drop` names (a run cancelled elsewhere). */
  protected abortGroups(drop: (group: string) => boolean): void {
    for (const t of this.#tasks.values()) if (drop(t.group)) t.abort.abort(new Error("cancelled"));
  }

  /** Runs one claimed job; when it ends, looks for more work at once. `run` must not throw. */
  protected runTask(
    key: string,
    group: string,
    lease: string,
    run: (signal: AbortSignal) => Promise<void>,
  ): void {
    this.#started++;
    const abort = new AbortController();
    const task: Task = { group, lease, abort, done: Promise.resolve() };
    this.#tasks.set(key, task);
    task.done = run(abort.signal)
      .catch((err: unknown) => this.log.error(`${this.#name}: ${key}: ${(err as Error).message}`))
      .finally(() => {
        this.#tasks.delete(key);
        this.poke();
      });
  }

  #schedule(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    // While the store is unreachable, polls back off (doubling, up to 30 s) instead of hammering it; while there is
    // nothing to do, they spread out (IDLE_POLL_FACTOR).
    const idleMaxMs = Math.max(this.#pollMs, Math.min(this.#pollMs * IDLE_POLL_FACTOR, IDLE_POLL_MAX_MS));
    const delay =
      this.#failedPolls > 0
        ? Math.min(30_000, this.#pollMs * 2 ** (this.#failedPolls - 1))
        : Math.min(idleMaxMs, this.#pollMs * 2 ** this.#idlePolls);
    this.#timer = setTimeout(() => void this.tick(), delay);
    this.#timer.unref();
  }

  async #beat(): Promise<void> {
    if (this.#killed) return;
    const leases = [...new Set([...this.#tasks.values()].map((t) => t.lease))];
    if (leases.length === 0) return;
    try {
      await this.heartbeat(leases);
    } catch (err) {
      // Retried by the next beat, before the lease ends.
      if (!this.storeFailed(err)) this.log.warn(`${this.#name}: heartbeat failed: ${(err as Error).message}`);
    }
  }
}
