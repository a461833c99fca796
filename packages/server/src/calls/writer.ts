/**
 * The write-behind path off the proxy's event loop (issue 20; README, "Where calls are written").
 *
 * On SQLite a commit and a WAL checkpoint are synchronous system calls: run on the proxy's loop they stall every
 * request in flight, which is what made p99 at c=1 seven times the bare proxy's. So the proxy's side
 * (`WriterRecorder`, the `Recorder` the server sees) does only what must happen before the answer's last bytes:
 * it serialises the call to one JSON line, appends it to the answered journal (journal.ts, one synchronous write,
 * as before), and hands the line to a writer. Calls that finish in the same turn of the loop go as one string.
 * The writer (`serveWriter`: a worker thread, or the primary process of `serve --workers N`) parses the lines and
 * runs the unchanged `CallRecorder` (queue, batches, spool, replay) and `insertCalls` with the insert hook, on
 * its own store connection, so the hook (graph resolution, continuations, live evaluators' enqueue) runs there in
 * the same transaction as before. The writer answers each batch with `done` once it is stored, spooled or set
 * aside; only then does the proxy's side release the batch's journal lines. A writer that dies is restarted and
 * sent every batch not yet done (stored once: ON CONFLICT DO NOTHING).
 *
 * Strings, not objects, cross: posting each row as an object (structured clone) cost more CPU on the proxy's
 * loop than the insert it moved away, and the journal line is serialised anyway.
 */
import fs from "node:fs";
import type { NewCallRow } from "../store/index.ts";
import type { Logger } from "../util/log.ts";
import { JournalBacklog } from "./backlog.ts";
import { AnsweredJournal, type Segment } from "./journal.ts";
import type { CallRecorder, Hold, Recorder, RecorderMetrics } from "./recorder.ts";
import { RejectedCalls, type RejectReason } from "./rejected.ts";

/** An error as it crosses to the proxy's side: what `isStoreUnavailable` and the API's error answer read. */
export interface WireError {
  name: string;
  message: string;
  code?: unknown;
  errcode?: unknown;
}

/** What the proxy's side sends the writer. Other messages on the same channel (the composition's) are ignored. */
export type ToWriter =
  /** Calls to queue: JSON lines joined by "\n", already in the sender's journal; answered by `done`. */
  | { t: "rows"; seq: number; lines: string }
  /** Calls to store now (`POST /api/calls`), bypassing the queue; answered by `reply`. */
  | { t: "insert"; id: number; lines: string }
  /** Answered by `reply` once everything sent before is stored, spooled or set aside. */
  | { t: "flush"; id: number }
  /** A process that sent calls died: replay what its journal holds. */
  | { t: "adopt" };

/** What the writer sends back. */
export type FromWriter =
  | { t: "done"; seq: number }
  | { t: "reply"; id: number; error?: WireError }
  /** Counter increments since the last message, for the sender's /metrics. */
  | { t: "counts"; stored: number; spooled: number; replayed: number; dropped: number; refused: number }
  | { t: "reachable"; value: boolean };

/** One end of a message channel: a worker thread's port, or a cluster worker's IPC. */
export interface Channel<Out> {
  post(msg: Out): void;
  onMessage(fn: (msg: { t: string }) => void): void;
}

interface Inflight {
  count: number;
  /** When it was posted (Date.now()): the age of the oldest tells a writer that falls behind (writer.ts). */
  sentAt: number;
  /** The journal segments holding the batch's lines (undefined where the journal could not be written)… */
  holds: Array<Segment | undefined>;
  /** …and the lines the journal could not take (a full disk), kept here as the only copy. */
  unjournaled: string[];
}

/** Rebuilds a writer's error with the fields that say what it was (a store outage, a refused row). */
function fromWire(e: WireError): Error {
  return Object.assign(new Error(e.message), { name: e.name, code: e.code, errcode: e.errcode });
}

function toWire(err: unknown): WireError {
  const e = (typeof err === "object" && err !== null ? err : {}) as Record<string, unknown>;
  return {
    name: typeof e.name === "string" ? e.name : "Error",
    message: typeof e.message === "string" ? e.message : String(err),
    code: e.code,
    errcode: e.errcode,
  };
}

export interface WriterRecorderOptions {
  /** The answered journal's `<pid>-<start>` (journal.ts), told to the writer before this starts. */
  journalInstance: string;
  spoolDir: string;
  rejectedDir: string;
  queueMax: number;
  batchSize: number;
}

/** The least time between two hand-overs of calls to the writer, ms (`WriterRecorder.record`). */
const HANDOVER_SPACING_MS = 10;

/** The proxy's side: journals each call, hands it to the writer, releases its line once the writer says so. */
export class WriterRecorder implements Recorder {
  readonly #channel: Channel<ToWriter>;
  readonly #opts: WriterRecorderOptions;
  readonly #metrics: RecorderMetrics;
  readonly #log: Logger;
  readonly #journal: AnsweredJournal;
  readonly #backlog: JournalBacklog;
  readonly #rejected: RejectedCalls;
  #pending: string[] = [];
  #pendingHolds: Array<Segment | undefined> = [];
  #pendingUnjournaled: string[] = [];
  #sendScheduled = false;
  /** When calls last went to the writer (performance.now()). */
  #lastSentAt = Number.NEGATIVE_INFINITY;
  readonly #inflight = new Map<number, Inflight>();
  #inflightRows = 0;
  readonly #requests = new Map<
    number,
    { msg: ToWriter; sentAt: number; resolve(): void; reject(err: Error): void }
  >();
  #seq = 0;
  #reachable = true;
  #closed = false;

  constructor(
    channel: Channel<ToWriter>,
    opts: WriterRecorderOptions,
    metrics: RecorderMetrics,
    log: Logger,
  ) {
    this.#channel = channel;
    this.#opts = opts;
    this.#metrics = metrics;
    this.#log = log;
    this.#journal = new AnsweredJournal({ dir: opts.spoolDir, instance: opts.journalInstance }, log);
    this.#backlog = new JournalBacklog(this.#journal, opts.queueMax, metrics, log);
    this.#rejected = new RejectedCalls(opts.rejectedDir, metrics, log);
    channel.onMessage((msg) => this.#receive(msg as FromWriter));
  }

  get storeReachable(): boolean {
    return this.#reachable;
  }

  /** Calls in memory: not yet sent to the writer, or sent and not yet answered (at most `queueMax`). */
  get queueDepth(): number {
    return this.#pending.length + this.#inflightRows;
  }

  /** Calls answered while the queue was full, waiting in the answered journal only (calls/backlog.ts). */
  get journaled(): number {
    return this.#backlog.size;
  }

  /**
   * How long the oldest batch or request posted to the writer has waited for its answer, ms (0 when none waits).
   * Maps keep insertion order, and both are keyed by an increasing sequence: the oldest of each comes first.
   */
  get oldestUnstoredMs(): number {
    const batch = this.#inflight.values().next().value;
    const request = this.#requests.values().next().value;
    const oldest = Math.min(
      batch?.sentAt ?? Number.POSITIVE_INFINITY,
      request?.sentAt ?? Number.POSITIVE_INFINITY,
    );
    return oldest === Number.POSITIVE_INFINITY ? 0 : Date.now() - oldest;
  }

  record(row: NewCallRow): void {
    if (this.#closed) {
      this.#backlog.dropped(row.id, "the recorder is closed (the server is stopping)");
      return;
    }
    const line = JSON.stringify(row);
    // Behind the calls already waiting in the journal, in order, until the queue has room for them all.
    if (this.#backlog.size > 0 || this.queueDepth >= this.#opts.queueMax) {
      this.#backlog.add(row.id, line);
      return;
    }
    const hold = this.#journal.appendLine(line);
    this.#pending.push(line);
    this.#pendingHolds.push(hold);
    if (!hold) this.#pendingUnjournaled.push(line);
    if (this.#pending.length >= this.#opts.batchSize) this.#send();
    else if (!this.#sendScheduled) {
      // Calls finished in this turn of the loop go together: one message, one string. And at most one hand-over
      // every HANDOVER_SPACING_MS: each wakes the writer thread, and at c=1, one per call (3,300 a second), those
      // wakeups took cores that the proxy's loop, the upstream and the client were woken for (p99 at c=1, five
      // interleaved rounds on 2 cores: 2.05-4.27 ms per call, 1.25-2.86 ms spaced by 10 ms; bare proxy 0.52-1.83).
      // A call that ends after a quiet spell goes on the next turn, as before; the journal has it either way.
      this.#sendScheduled = true;
      const wait = this.#lastSentAt + HANDOVER_SPACING_MS - performance.now();
      if (wait <= 0) setImmediate(() => this.#send());
      else setTimeout(() => this.#send(), wait);
    }
  }

  setAside(id: string, reason: RejectReason, err: unknown, row: Record<string, unknown>): void {
    void this.#rejected.add(id, reason, err, row);
  }

  insert(rows: NewCallRow[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    return this.#request((id) => ({ t: "insert", id, lines: rows.map((r) => JSON.stringify(r)).join("\n") }));
  }

  async flush(): Promise<void> {
    this.#send();
    // The calls that wait in the journal now go as the queue has room, a queue's worth per round; the writer's
    // answer to a flush covers what was sent before it, so the last round is one that had sent them all.
    const target = this.#backlog.added;
    for (;;) {
      this.#refill();
      const covered = this.#backlog.taken >= target;
      await this.#request((id) => ({ t: "flush", id }));
      if (covered) break;
    }
    await this.#rejected.flush();
  }

  /** Drains what was recorded (the writer's owner stops the writer itself). */
  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    this.#journal.close();
  }

  /**
   * After the writer was restarted: sends again every call and request it had not answered. The calls are read
   * back from the journal segments that hold them, whole (a call stored before the writer died is stored once all
   * the same: ON CONFLICT DO NOTHING), so this side keeps no copy of what it sent. A copy kept until the writer's
   * commit (tens of ms) outlived two young-generation collections and was copied into the old generation, call
   * after call: the old generation grew from 35 MB to 65-140 MB at c=50, with a mark-compact every second or
   * two, and peak RSS by about 45 MB (a copy as bytes, off the heap, cost as much in CPU as it saved).
   */
  resend(): void {
    const batches = [...this.#inflight.values()];
    this.#inflight.clear();
    if (batches.length > 0) {
      const holds = batches.flatMap((b) => b.holds);
      const unjournaled = batches.flatMap((b) => b.unjournaled);
      const lines: string[] = [];
      for (const segment of new Set(holds)) {
        if (!segment) continue;
        try {
          lines.push(...fs.readFileSync(segment.path, "utf8").split("\n").filter(Boolean));
        } catch (err) {
          // Never expected (a segment with lines not yet stored is not deleted); the next start replays it.
          this.#log.error(`writer: cannot read back ${segment.path}: ${String(err)}`);
        }
      }
      lines.push(...unjournaled);
      const seq = ++this.#seq;
      this.#inflight.set(seq, { count: holds.length, sentAt: Date.now(), holds, unjournaled });
      this.#channel.post({ t: "rows", seq, lines: lines.join("\n") });
    }
    for (const request of this.#requests.values()) {
      request.sentAt = Date.now();
      this.#channel.post(request.msg);
    }
  }

  #send(): void {
    this.#sendScheduled = false;
    if (this.#pending.length === 0) return;
    this.#lastSentAt = performance.now();
    const seq = ++this.#seq;
    const count = this.#pending.length;
    this.#inflight.set(seq, {
      count,
      sentAt: Date.now(),
      holds: this.#pendingHolds,
      unjournaled: this.#pendingUnjournaled,
    });
    this.#inflightRows += count;
    this.#channel.post({ t: "rows", seq, lines: this.#pending.join("\n") });
    this.#pending = [];
    this.#pendingHolds = [];
    this.#pendingUnjournaled = [];
  }

  /** Sends the writer calls read back from the journal, a batch at a time, while the queue has room. */
  #refill(): void {
    while (this.#backlog.size > 0 && this.queueDepth < this.#opts.queueMax) {
      const room = Math.min(this.#opts.batchSize, this.#opts.queueMax - this.queueDepth);
      const { lines, segments } = this.#backlog.take(room);
      if (lines.length === 0) break;
      const seq = ++this.#seq;
      this.#inflight.set(seq, { count: lines.length, sentAt: Date.now(), holds: segments, unjournaled: [] });
      this.#inflightRows += lines.length;
      this.#channel.post({ t: "rows", seq, lines: lines.join("\n") });
    }
  }

  #request(build: (id: number) => ToWriter): Promise<void> {
    const id = ++this.#seq;
    const msg = build(id);
    return new Promise((resolve, reject) => {
      this.#requests.set(id, { msg, sentAt: Date.now(), resolve, reject });
      this.#channel.post(msg);
    });
  }

  #receive(msg: FromWriter): void {
    switch (msg.t) {
      case "done": {
        const batch = this.#inflight.get(msg.seq);
        if (!batch) return;
        this.#inflight.delete(msg.seq);
        this.#inflightRows -= batch.count;
        for (const segment of batch.holds) segment?.release();
        // Hysteresis: read the journal back once half the queue is free, not for every batch stored.
        if (this.#backlog.size > 0 && this.queueDepth <= this.#opts.queueMax / 2) this.#refill();
        this.#metrics.queueDepth.set(this.queueDepth);
        return;
      }
      case "reply": {
        const request = this.#requests.get(msg.id);
        if (!request) return;
        this.#requests.delete(msg.id);
        if (msg.error) request.reject(fromWire(msg.error));
        else request.resolve();
        return;
      }
      case "counts": {
        if (msg.stored) this.#metrics.storedCalls.inc(msg.stored);
        if (msg.spooled) this.#metrics.spooledRecords.inc(msg.spooled);
        if (msg.replayed) this.#metrics.replayedRecords.inc(msg.replayed);
        if (msg.dropped) this.#metrics.droppedRecords.inc(msg.dropped);
        if (msg.refused) this.#metrics.rejectedRecords.inc({ reason: "store_refused" }, msg.refused);
        return;
      }
      case "reachable":
        this.#reachable = msg.value;
        return;
    }
  }
}

type Counts = Omit<Extract<FromWriter, { t: "counts" }>, "t">;

/**
 * The writer's counters: tallied here and sent with `report` at most once per turn of the writer's loop, to the
 * side whose /metrics shows them, and before any answer (`send`, called by `serveWriter`): a sender that flushed
 * reads them at once. The queue depth is the sender's own (`WriterRecorder.queueDepth`).
 */
export function countsOut(report: (msg: FromWriter) => void): RecorderMetrics & { send(): void } {
  let counts: Counts | undefined;
  const send = () => {
    const sent = counts;
    counts = undefined;
    if (sent) report({ t: "counts", ...sent });
  };
  const add = (key: keyof Counts, by = 1) => {
    if (!counts) {
      counts = { stored: 0, spooled: 0, replayed: 0, dropped: 0, refused: 0 };
      setImmediate(send);
    }
    counts[key] += by;
  };
  return {
    send,
    queueDepth: { set: () => {} },
    storedCalls: { inc: (by) => add("stored", by) },
    spooledRecords: { inc: (by) => add("spooled", by) },
    replayedRecords: { inc: (by) => add("replayed", by) },
    droppedRecords: { inc: (by) => add("dropped", by) },
    rejectedRecords: { inc: (_labels, by) => add("refused", by) },
  };
}

/** A batch's calls in the writer's queue: once each is stored, spooled or set aside, the sender hears `done`. */
class BatchHold implements Hold {
  #left: number;
  readonly #done: () => void;
  constructor(count: number, done: () => void) {
    this.#left = count;
    this.#done = done;
  }
  release(): void {
    if (--this.#left === 0) this.#done();
  }
}

/**
 * The writer's side of one sender's channel: queues its batches in `recorder` and answers it. One recorder may
 * serve several channels (the primary of `serve --workers N` on SQLite serves every worker).
 */
export function serveWriter(
  channel: Channel<FromWriter>,
  recorder: CallRecorder,
  counts: { send(): void },
  log: Logger,
): void {
  let reachable = true;
  const answer = (id: number, work: Promise<void>) =>
    work.then(
      () => {
        counts.send();
        channel.post({ t: "reply", id });
      },
      (err: unknown) => {
        counts.send();
        channel.post({ t: "reply", id, error: toWire(err) });
      },
    );
  const parse = (lines: string): NewCallRow[] => {
    const rows: NewCallRow[] = [];
    for (const line of lines.split("\n")) {
      try {
        rows.push(JSON.parse(line) as NewCallRow);
      } catch (err) {
        // Never expected (the sender serialised the line); its journal still has it for the next start.
        log.error(`writer: an unreadable call line was skipped: ${String(err)}`);
      }
    }
    return rows;
  };
  // The proxy's side shows the store's reachability (/healthz, /api/status); it changes only as batches go.
  const reportReachable = () => {
    if (recorder.storeReachable === reachable) return;
    reachable = recorder.storeReachable;
    channel.post({ t: "reachable", value: reachable });
  };
  // …or as the writer probes a store that was down, with no batch going.
  setInterval(reportReachable, 500).unref();
  channel.onMessage((message) => {
    const msg = message as ToWriter;
    switch (msg.t) {
      case "rows": {
        const rows = parse(msg.lines);
        const seq = msg.seq;
        const hold = new BatchHold(rows.length, () => {
          counts.send();
          channel.post({ t: "done", seq });
          reportReachable();
        });
        if (rows.length === 0) channel.post({ t: "done", seq });
        for (const row of rows) recorder.take(row, hold);
        return;
      }
      case "insert":
        void answer(msg.id, recorder.insert(parse(msg.lines)));
        return;
      case "flush":
        void answer(
          msg.id,
          recorder.flush().finally(() => reportReachable()),
        );
        return;
      case "adopt":
        recorder.adoptOrphans();
        return;
    }
  });
}
