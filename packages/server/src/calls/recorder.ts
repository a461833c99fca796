/**
 * The write-behind path from the proxy to the store (PRODUCT.md "Storage and scale").
 *
 * `record()` appends the row to the answered journal (calls/journal.ts: one synchronous write, before the proxy
 * sends the response's last bytes) and pushes it onto a bounded in-memory queue; one worker loop drains the queue
 * in batches, each inserted in one transaction (ON CONFLICT DO NOTHING: a replay never duplicates). Once a batch
 * is committed (or spooled, or set aside) its journal lines are released, and a journal segment whose lines are
 * all released is deleted. The journal covers the queue and the batch in flight alike, on every store: a SIGKILL
 * at any moment loses no call that was recorded (PostgreSQL batches had a journal of their own before; it covered
 * only the network round trip of the insert and is gone).
 * If the insert fails the batch goes to a spool file, later batches go straight to spool files, and the loop
 * probes the store with back-off; once it answers, every spool file is replayed and deleted.
 * A row the store refuses while it answers is set aside in `rejected-*.jsonl` (calls/rejected.ts), alone.
 * At start, journal segments, journals of older versions and spools left by dead processes (kill -9, power loss
 * after the OS flushed) are replayed.
 */
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import readline from "node:readline";
import { isStoreUnavailable, type NewCallRow, type Store } from "../store/index.ts";
import type { Logger } from "../util/log.ts";
import { JournalBacklog } from "./backlog.ts";
import { type InsertHook, insertCalls } from "./insert.ts";
import { AnsweredJournal, type Segment } from "./journal.ts";
import { RejectedCalls, type RejectedMetrics, type RejectReason } from "./rejected.ts";

/** The counters the recorder keeps; prom-client's objects fit. */
export interface RecorderMetrics extends RejectedMetrics {
  queueDepth: { set(value: number): void };
  /** Calls waiting in the answered journal only, the queue being full (calls/backlog.ts). */
  journalBacklog?: { set(value: number): void };
  storedCalls: { inc(by?: number): void };
  spooledRecords: { inc(by?: number): void };
  replayedRecords: { inc(by?: number): void };
}

/** What the rest of the server sees of the write-behind path, wherever it runs. */
export interface Recorder {
  /**
   * Appends a call to the answered journal (one synchronous write: once it returns, a SIGKILL cannot lose the
   * call) and queues it for storage. Never waits on the store and never throws.
   */
  record(row: NewCallRow): void;
  /**
   * Sets aside a call that will never be stored (its record could not be built): written to `rejected-*.jsonl`,
   * counted and logged. Never throws.
   */
  setAside(id: string, reason: RejectReason, err: unknown, row: Record<string, unknown>): void;
  /**
   * Stores calls now, through the same insert (and hook) as the queue, bypassing the queue and the journal:
   * for callers that answer only once the calls are stored (`POST /api/calls`). Throws what the store throws.
   */
  insert(rows: NewCallRow[]): Promise<void>;
  /** Resolves once everything recorded so far is stored (or spooled, when the store is down, or set aside). */
  flush(): Promise<void>;
  close(): Promise<void>;
  readonly storeReachable: boolean;
  readonly queueDepth: number;
  /** Calls answered while the queue was full, waiting in the answered journal only (calls/backlog.ts). */
  readonly journaled: number;
}

export interface RecorderOptions {
  spoolDir: string;
  /** Where `rejected-YYYY-MM-DD.jsonl` files go (the data directory). */
  rejectedDir: string;
  queueMax: number;
  flushMs: number;
  batchSize: number;
  /** What runs inside each insert's transaction (the graph's resolution, wired in server.ts). */
  insertHook: InsertHook;
  /** Longest wait between probes of an unreachable store. */
  maxRetryMs?: number;
  /** Testing only: where to SIGKILL this process during a flush. */
  faultInject?: "crash-after-insert";
  /**
   * The answered journal's `<pid>-<start>` (journal.ts): a writer thread names its main thread's, whose segments
   * it must never replay as a dead process's. Default: a journal of this thread's own.
   */
  journalInstance?: string;
}

/**
 * Where a queued call is kept safe until it is stored: its answered journal segment (journal.ts), or, in a
 * writer (writer.ts), the batch it came in, whose sender holds the journal. Released once the call is stored,
 * spooled or set aside.
 */
export interface Hold {
  release(): void;
}

/** A queued call and what holds it (none when the journal could not be written). */
interface Queued {
  row: NewCallRow;
  hold: Hold | undefined;
}

const jsonLines = (rows: NewCallRow[]): string => `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`;

/** Thrown inside a replay when the store stopped answering (already recorded by `#markDown`). */
class StoreDown extends Error {}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class CallRecorder implements Recorder {
  readonly #store: Store;
  readonly #opts: Required<RecorderOptions>;
  readonly #metrics: RecorderMetrics;
  readonly #log: Logger;
  readonly #journal: AnsweredJournal;
  readonly #backlog: JournalBacklog;
  readonly #rejected: RejectedCalls;
  #queue: Queued[] = [];
  /** The calls of the batch being written, out of the queue and still in memory. */
  #writing = 0;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #storeDown = false;
  #retryMs = 250;
  #nextProbeAt = 0;
  #spoolSeq = 0;
  #currentSpool: string | undefined;
  #closed = false;
  #orphansWanted = false;

  constructor(store: Store, opts: RecorderOptions, metrics: RecorderMetrics, log: Logger) {
    this.#store = store;
    this.#opts = { maxRetryMs: 10_000, faultInject: undefined, ...opts } as Required<RecorderOptions>;
    this.#metrics = metrics;
    this.#log = log;
    fs.mkdirSync(opts.spoolDir, { recursive: true });
    this.#journal = new AnsweredJournal({ dir: opts.spoolDir, instance: opts.journalInstance }, log);
    this.#backlog = new JournalBacklog(this.#journal, opts.queueMax, metrics, log);
    this.#rejected = new RejectedCalls(opts.rejectedDir, metrics, log);
  }

  /** Whether the store answered the last write. */
  get storeReachable(): boolean {
    return !this.#storeDown;
  }

  /** Calls in memory: queued, or in the batch being written (at most `queueMax`). */
  get queueDepth(): number {
    return this.#queue.length + this.#writing;
  }

  /** Calls answered while the queue was full, waiting in the answered journal only (calls/backlog.ts). */
  get journaled(): number {
    return this.#backlog.size;
  }

  record(row: NewCallRow): void {
    if (this.#closed) {
      this.#backlog.dropped(row.id, "the recorder is closed (the server is stopping)");
      return;
    }
    // Behind the calls already waiting in the journal, in order, until the queue has room for them all.
    if (this.#backlog.size > 0 || this.queueDepth >= this.#opts.queueMax) {
      if (this.#backlog.add(row.id, JSON.stringify(row))) this.#schedule(this.#opts.flushMs);
      return;
    }
    this.take(row, this.#journal.append(row));
  }

  /**
   * Queues a call that `hold` already keeps safe (a writer's batch, writer.ts), without journaling it again. The
   * sender bounds what it hands over (`queueMax`), so nothing is dropped here.
   */
  take(row: NewCallRow, hold: Hold | undefined): void {
    this.#queue.push({ row, hold });
    this.#metrics.queueDepth.set(this.queueDepth);
    if (this.#queue.length >= this.#opts.batchSize) this.#kick();
    else this.#schedule(this.#opts.flushMs);
  }

  insert(rows: NewCallRow[]): Promise<void> {
    return insertCalls(this.#store, rows, this.#opts.insertHook);
  }

  /** Replays what dead processes (or this one, earlier) left in the spool directory. */
  async start(): Promise<void> {
    await this.#replayOrphans();
  }

  /**
   * Replays, in the worker loop, what dead processes left in the spool directory: a writer serving several
   * processes calls it when one of them died (writer.ts), whose journal then holds calls it never sent.
   */
  adoptOrphans(): void {
    this.#orphansWanted = true;
    this.#kick();
  }

  setAside(id: string, reason: RejectReason, err: unknown, row: Record<string, unknown>): void {
    void this.#rejected.add(id, reason, err, row);
  }

  /** Writes everything queued (to the store, or to the spool if it is down) and everything set aside. */
  async flush(): Promise<void> {
    while (this.#queue.length > 0 || this.#backlog.size > 0 || this.#running) {
      this.#kick();
      await this.#running;
    }
    await this.#rejected.flush();
  }

  /** Drains the queue and stops. What cannot reach the store stays in the spool for the next start. */
  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#journal.close();
  }

  #schedule(ms: number): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#kick();
    }, ms);
    this.#timer.unref();
  }

  #kick(): void {
    if (this.#running) return;
    this.#running = this.#work()
      .catch((err) => this.#log.error(`capture writer: ${String(err)}`))
      .finally(() => {
        this.#running = undefined;
        this.#writing = 0;
        if (this.#queue.length > 0 || this.#backlog.size > 0) this.#schedule(this.#opts.flushMs);
        else if (this.#storeDown) this.#schedule(Math.max(this.#nextProbeAt - Date.now(), 10));
      });
  }

  async #work(): Promise<void> {
    if (this.#storeDown && Date.now() >= this.#nextProbeAt) await this.#probeAndReplay();
    else if (this.#orphansWanted && !this.#storeDown) {
      this.#orphansWanted = false;
      await this.#replayOrphans();
    }
    this.#refill();
    while (this.#queue.length > 0) {
      // Under steady traffic the queue never empties, so the store is probed between batches as well: probing
      // only when the loop starts kept a recorder that saw one outage spooling for as long as traffic lasted.
      if (this.#storeDown && Date.now() >= this.#nextProbeAt) await this.#probeAndReplay();
      const queued = this.#queue.splice(0, this.#opts.batchSize);
      this.#writing = queued.length;
      this.#metrics.queueDepth.set(this.queueDepth);
      const batch = queued.map((q) => q.row);
      let kept = true;
      if (this.#storeDown) kept = await this.#spool(batch);
      else if (await this.#insertOrSetAside(batch)) {
        if (this.#opts.faultInject === "crash-after-insert") process.kill(process.pid, "SIGKILL");
      } else kept = await this.#spool(batch);
      this.#writing = 0;
      if (kept) {
        // Stored, spooled or set aside: the journal lines can go.
        for (const q of queued) q.hold?.release();
        if (this.queueDepth <= this.#opts.queueMax / 2) this.#refill();
        continue;
      }
      // Neither the store nor a spool file has them: their journal lines stay, and the next start stores them.
      const lost = queued.filter((q) => !q.hold).length;
      if (lost) this.#metrics.droppedRecords.inc(lost);
      this.#log.error(
        `${batch.length - lost} calls are kept in the answered journal only, stored at the next start` +
          (lost ? `; ${lost} calls lost (no journal either)` : ""),
      );
    }
  }

  /** Queues calls read back from the journal (calls/backlog.ts) while the queue has room. */
  #refill(): void {
    if (this.#backlog.size === 0) return;
    const room = this.#opts.queueMax - this.queueDepth;
    const { lines, segments } = this.#backlog.take(room);
    for (const [i, line] of lines.entries()) {
      const segment = segments[i] as Segment;
      try {
        this.#queue.push({ row: JSON.parse(line) as NewCallRow, hold: segment });
      } catch (err) {
        // Never expected (this process wrote the line); it stays in the journal for the next start.
        this.#log.error(`an unreadable call line in ${segment.path} was skipped: ${String(err)}`);
      }
    }
    this.#metrics.queueDepth.set(this.queueDepth);
  }

  /**
   * Inserts a batch. When the store refuses it but still answers, the batch holds a row it will never take
   * (a value out of range, a constraint): rows are then tried one by one and any refused row is set aside in
   * `rejected-YYYY-MM-DD.jsonl` (counted and logged), so one bad row can neither block the others nor make the
   * store look down. Returns false when the store is unreachable (nothing is lost: the caller keeps the batch).
   */
  async #insertOrSetAside(rows: NewCallRow[]): Promise<boolean> {
    try {
      await insertCalls(this.#store, rows, this.#opts.insertHook);
      this.#metrics.storedCalls.inc(rows.length);
      return true;
    } catch (err) {
      if (isStoreUnavailable(err) || !(await this.#store.ping())) {
        this.#markDown(err);
        return false;
      }
    }
    for (const row of rows) {
      try {
        await insertCalls(this.#store, [row], this.#opts.insertHook);
        this.#metrics.storedCalls.inc();
      } catch (err) {
        if (isStoreUnavailable(err) || !(await this.#store.ping())) {
          this.#markDown(err);
          return false;
        }
        await this.#rejected.add(row.id, "store_refused", err, { ...row });
      }
    }
    return true;
  }

  #markDown(err: unknown): void {
    if (!this.#storeDown)
      this.#log.warn(`store unreachable (${String(err)}); spooling calls to ${this.#opts.spoolDir}`);
    this.#storeDown = true;
    this.#nextProbeAt = Date.now() + this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, this.#opts.maxRetryMs);
    this.#currentSpool = undefined;
  }

  #newSpoolPath(): string {
    return path.join(this.#opts.spoolDir, `spool-${process.pid}-${Date.now()}-${this.#spoolSeq++}.jsonl`);
  }

  /** False when the spool file cannot be written (a full disk): the caller decides what becomes of the batch. */
  async #spool(batch: NewCallRow[]): Promise<boolean> {
    const count = batch.length;
    this.#currentSpool ??= this.#newSpoolPath();
    try {
      await fsp.appendFile(this.#currentSpool, jsonLines(batch));
      this.#metrics.spooledRecords.inc(count);
      return true;
    } catch (err) {
      this.#log.error(`spool write of ${count} calls failed: ${String(err)}`);
      return false;
    }
  }

  async #probeAndReplay(): Promise<void> {
    if (!(await this.#store.ping())) {
      this.#markDown(new Error("the store does not answer"));
      return;
    }
    this.#currentSpool = undefined;
    const files = (await fsp.readdir(this.#opts.spoolDir))
      .filter((f) => f.startsWith(`spool-${process.pid}-`))
      .sort();
    for (const f of files) {
      if (!(await this.#replayFile(path.join(this.#opts.spoolDir, f)))) return;
    }
    // #storeDown is still true here: only a failed replay says the store went away again.
    if (!(await this.#replayOrphans())) return;
    this.#log.info("store reachable again; spooled calls replayed");
    this.#storeDown = false;
    this.#retryMs = 250;
  }

  /** Inserts every record of a journal or spool file, then deletes it. False if the store failed. */
  async #replayFile(file: string): Promise<boolean> {
    const lines = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
    let batch: NewCallRow[] = [];
    let total = 0;
    try {
      for await (const line of lines) {
        if (!line.trim()) continue;
        try {
          batch.push(JSON.parse(line) as NewCallRow);
        } catch {
          // A line cut short by a crash mid-write: every complete line before it is kept.
          this.#log.warn(`${path.basename(file)}: skipped a truncated record`);
          continue;
        }
        if (batch.length >= this.#opts.batchSize) {
          if (!(await this.#insertOrSetAside(batch))) throw new StoreDown();
          total += batch.length;
          batch = [];
        }
      }
      if (batch.length && !(await this.#insertOrSetAside(batch))) throw new StoreDown();
      total += batch.length;
    } catch (err) {
      lines.close();
      if (!(err instanceof StoreDown)) this.#markDown(err);
      return false;
    }
    await fsp.rm(file, { force: true });
    this.#metrics.replayedRecords.inc(total);
    if (total > 0) this.#log.info(`replayed ${total} calls from ${path.basename(file)}`);
    return true;
  }

  /** False when the store failed during a replay (the rest stays in the spool). */
  async #replayOrphans(): Promise<boolean> {
    const files = (await fsp.readdir(this.#opts.spoolDir))
      .filter((f) => /^(answered|journal|spool)-\d+.*\.jsonl$/.test(f) && !this.#journal.isOwn(f))
      .sort();
    for (const f of files) {
      // A live process's files are its own business; one with this pid that is not this process's own journal
      // was left by an earlier process (a container's pid 1), dead.
      const pid = Number(f.split("-")[1]?.replace(".jsonl", ""));
      if (pid !== process.pid && pidAlive(pid)) continue;
      if (!(await this.#replayFile(path.join(this.#opts.spoolDir, f)))) {
        this.#log.warn(`could not replay ${f} yet; it stays in the spool and is retried`);
        return false;
      }
    }
    return true;
  }
}
