/**
 * Calls answered while the write-behind queue is full (`INTERSEBD_QUEUE_MAX`): kept in the answered journal only,
 * not in memory, and read back from it as the queue drains (README, "Nothing is lost").
 *
 * A store slower than the traffic for long (a SQLite store of millions of calls, a writer thread starved of CPU, a
 * PostgreSQL under load) used to cost the calls answered while the queue was full: they were dropped before the
 * journal, counted and logged. The journal already holds every call on disk until it is stored, so the queue's
 * bound need only bound memory: past it, a call is journaled as any other (the same one `write()` on the proxy's
 * loop) and remembered here as a byte range of its segment. Calls journaled one after another while the queue is
 * full sit next to each other in a segment, so the memory kept is one range per segment, whatever their number.
 * Their segments are not deleted until each line is released (the recorder's `Hold`), so a crash meanwhile loses
 * nothing: the next start replays them, as it replays any journal.
 */
import fs from "node:fs";
import type { Logger } from "../util/log.ts";
import type { AnsweredJournal, Segment } from "./journal.ts";

/** The recorder's counters that `Overflow` moves (calls/recorder.ts, `RecorderMetrics`). */
export interface OverflowMetrics {
  droppedRecords: { inc(by?: number): void };
  journalBacklog?: { set(value: number): void };
}

/** Consecutive lines of one segment, `start` to `end` in bytes, not yet read back. */
interface Range {
  segment: Segment;
  start: number;
  end: number;
  count: number;
}

/** How much of a segment one read takes (a read stops at the last whole line within it). */
const READ_BYTES = 1024 * 1024;

export class JournalBacklog {
  readonly #journal: AnsweredJournal;
  readonly #report: Overflow;
  #ranges: Range[] = [];
  #count = 0;
  /** Calls ever added, and ever read back or reported lost: a flush waits until the second reaches the first. */
  added = 0;
  taken = 0;

  /** `queueMax`, `metrics` and `log`: what the operator is told of it (`Overflow`, below). */
  constructor(journal: AnsweredJournal, queueMax: number, metrics: OverflowMetrics, log: Logger) {
    this.#journal = journal;
    this.#report = new Overflow(queueMax, metrics, log);
  }

  /** Calls waiting in the journal only. */
  get size(): number {
    return this.#count;
  }

  /**
   * Journals one call's line (call `id`) to be read back later. False when the journal cannot take it (a full
   * disk): the call is then dropped, counted and logged, having nowhere to be kept.
   */
  add(id: string, line: string): boolean {
    const segment = this.#journal.appendLine(line);
    if (!segment) {
      this.#report.dropped(id, "the queue is full and the answered journal cannot be written");
      return false;
    }
    const end = segment.bytes;
    const start = end - Buffer.byteLength(line) - 1;
    const last = this.#ranges.at(-1);
    if (last && last.segment === segment && last.end === start) {
      last.end = end;
      last.count++;
    } else this.#ranges.push({ segment, start, end, count: 1 });
    this.#count++;
    this.added++;
    this.#report.journaled(this.#count);
    return true;
  }

  /** A call the recorder refused for another reason (it is closed): counted and logged as the full queue's are. */
  dropped(id: string, why: string): void {
    this.#report.dropped(id, why);
  }

  /**
   * Reads back up to `max` calls, oldest first: their lines, and for each the segment to release once it is
   * stored. A segment that cannot be read (never expected: one with unreleased lines is not deleted) is logged,
   * and its calls are left to the next start's replay of the journal.
   */
  take(max: number): { lines: string[]; segments: Segment[] } {
    const lines: string[] = [];
    const segments: Segment[] = [];
    while (lines.length < max && this.#ranges.length > 0) {
      const range = this.#ranges[0] as Range;
      let buf: Buffer;
      try {
        buf = readRange(range.segment.path, range.start, range.end);
      } catch (err) {
        this.#ranges.shift();
        this.#count -= range.count;
        this.taken += range.count;
        this.#report.unreadable(range.segment.path, range.count, err);
        continue;
      }
      let at = 0;
      let taken = 0;
      while (lines.length < max) {
        const newline = buf.indexOf(10, at);
        if (newline < 0) break;
        lines.push(buf.toString("utf8", at, newline));
        segments.push(range.segment);
        at = newline + 1;
        taken++;
      }
      range.start += at;
      range.count -= taken;
      this.#count -= taken;
      this.taken += taken;
      if (range.count === 0 || range.start >= range.end) {
        // Whatever the count says, a range read to its end is done (and the count cannot go wrong silently).
        this.#count -= range.count;
        this.taken += range.count;
        this.#ranges.shift();
      }
    }
    this.#report.waiting(this.#count);
    return { lines, segments };
  }
}

/**
 * Bytes `start` to at most `end` of a file, cut after the last newline: READ_BYTES at a time, or as much as it takes
 * to hold one whole line (a line longer than READ_BYTES, a large body).
 */
function readRange(file: string, start: number, end: number): Buffer {
  const fd = fs.openSync(file, "r");
  try {
    let length = Math.min(end - start, READ_BYTES);
    for (;;) {
      const buf = Buffer.allocUnsafe(length);
      const read = fs.readSync(fd, buf, 0, length, start);
      const last = buf.subarray(0, read).lastIndexOf(10);
      if (last >= 0) return buf.subarray(0, last + 1);
      if (read < length || start + length >= end) throw new Error(`${file}: no whole line at byte ${start}`);
      length = Math.min(end - start, length * 4);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * What the operator hears of a full queue: a warning when calls start to wait in the journal, a line when they are
 * all stored again, and the journal's backlog as a gauge; never a line per call (at thousands of calls per second
 * a log line each cost more CPU than the proxy's own work). A call dropped (nowhere to keep it) is counted, and
 * logged once per episode.
 */
class Overflow {
  readonly #queueMax: number;
  readonly #metrics: OverflowMetrics;
  readonly #log: Logger;
  #since: number | undefined;
  #peak = 0;
  #dropping = false;

  constructor(queueMax: number, metrics: OverflowMetrics, log: Logger) {
    this.#queueMax = queueMax;
    this.#metrics = metrics;
    this.#log = log;
  }

  journaled(backlog: number): void {
    this.#dropping = false;
    if (backlog > this.#peak) this.#peak = backlog;
    this.#metrics.journalBacklog?.set(backlog);
    if (this.#since !== undefined) return;
    this.#since = Date.now();
    this.#log.warn(
      `write-behind queue full (${this.#queueMax} calls, INTERSEBD_QUEUE_MAX): the store is slower than the ` +
        "traffic; later calls wait in the answered journal on disk until it catches up (none is dropped)",
    );
  }

  /** The backlog after calls were read back from the journal. */
  waiting(backlog: number): void {
    this.#metrics.journalBacklog?.set(backlog);
    if (backlog > 0 || this.#since === undefined) return;
    this.#log.info(
      `the store caught up: every call that waited in the answered journal was handed to it (at most ${this.#peak} ` +
        `waited; ${((Date.now() - this.#since) / 1000).toFixed(1)} s)`,
    );
    this.#since = undefined;
    this.#peak = 0;
  }

  /** A call with nowhere to go: counted, and logged once until a call is kept again. */
  dropped(id: string, why: string): void {
    this.#metrics.droppedRecords.inc();
    if (this.#dropping) return;
    this.#dropping = true;
    this.#log.error(
      `call ${id} was dropped: ${why}; so are later ones until that changes (counted in intersebd_dropped_records_total)`,
    );
  }

  unreadable(file: string, count: number, err: unknown): void {
    this.#log.error(
      `cannot read back ${count} calls from ${file} (${String(err)}); they stay in the journal, stored at the next start`,
    );
  }
}
