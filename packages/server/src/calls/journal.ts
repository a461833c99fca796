/**
 * The answered journal: what makes "answered means stored" hold through a SIGKILL (README, "Nothing is lost").
 *
 * Every call handed to the recorder is first appended here, one JSON line written with one synchronous `write()`
 * on a file opened once with O_APPEND, before the proxy sends the response's last bytes (or the API answers 202).
 * A write that returned is in the kernel's page cache, which outlives the process: a SIGKILL at any later moment
 * leaves the line on disk, and the next start replays it (ON CONFLICT DO NOTHING: stored once). No fsync: that
 * would only matter for a power loss, and would cost a disk flush per call.
 *
 * The journal is a sequence of segment files per process, `answered-<pid>-<instance>-<seq>.jsonl` in the spool
 * directory. Each line belongs to one segment; the recorder releases it once the call is committed, spooled or set
 * aside. A segment is deleted when it is sealed (rotated by size or age) and every line in it was released, so the
 * journal holds about as much as the write-behind queue. The instance part (this process's start time) tells this
 * process's segments from those of an earlier process that had the same pid (a container's pid 1).
 */
import fs from "node:fs";
import path from "node:path";
import type { Logger } from "../util/log.ts";

const SEGMENT = /^answered-(\d+)-(\d+)-(\d+)\.jsonl$/;

/** A segment file: how many lines were written to it and how many of them the recorder has released. */
export class Segment {
  readonly path: string;
  readonly openedAt: number;
  readonly #journal: AnsweredJournal;
  fd: number | undefined;
  bytes = 0;
  appended = 0;
  released = 0;

  constructor(journal: AnsweredJournal, file: string, fd: number) {
    this.#journal = journal;
    this.path = file;
    this.fd = fd;
    this.openedAt = Date.now();
  }

  /** One of its lines is no longer needed (the recorder's `Hold`, calls/recorder.ts). */
  release(): void {
    this.#journal.release(this);
  }

  get sealed(): boolean {
    return this.fd === undefined;
  }

  get drained(): boolean {
    return this.released === this.appended;
  }
}

export interface JournalOptions {
  dir: string;
  /**
   * `<pid>-<start>` of the process whose segments these are: a writer thread (calls/writer.ts) names the main
   * thread's, so that it never replays segments that are still being written. Default: this process, now.
   */
  instance?: string;
  /** A segment is sealed once it holds this many bytes… */
  maxSegmentBytes?: number;
  /** …or once it is this old and every line in it was released. */
  maxSegmentAgeMs?: number;
}

export class AnsweredJournal {
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #maxAgeMs: number;
  readonly #log: Logger;
  /** `<pid>-<start>`: the prefix of this process's segment names. */
  readonly #instance: string;
  #seq = 0;
  #current: Segment | undefined;
  /** Set after a failed write, so that a full disk is logged once, not once per call. */
  #failing = false;
  #closed = false;

  constructor(opts: JournalOptions, log: Logger) {
    this.#dir = opts.dir;
    this.#maxBytes = opts.maxSegmentBytes ?? 8 * 1024 * 1024;
    this.#maxAgeMs = opts.maxSegmentAgeMs ?? 1000;
    this.#log = log;
    this.#instance = opts.instance ?? `${process.pid}-${Date.now()}`;
    fs.mkdirSync(this.#dir, { recursive: true });
  }

  /**
   * Whether `file` (a name in the spool directory) is a segment left by another process, dead or alive: the
   * recorder replays those whose pid is not alive. This process's own segments are never replayed by itself.
   */
  static ownerPid(file: string): number | undefined {
    const m = SEGMENT.exec(file);
    return m ? Number(m[1]) : undefined;
  }

  /** `<pid>-<start>`, the prefix of this journal's segment names (see `JournalOptions.instance`). */
  get instance(): string {
    return this.#instance;
  }

  isOwn(file: string): boolean {
    return file.startsWith(`answered-${this.#instance}-`);
  }

  /**
   * Appends one row as one line with one write. Returns the segment holding it, to be released once the row is
   * stored (or spooled, or set aside); undefined when the journal cannot be written (disk full, permissions):
   * the row is then kept in memory only, as before there was a journal, and the failure is logged once.
   */
  append(row: object): Segment | undefined {
    return this.appendLine(JSON.stringify(row));
  }

  /** `append` of a row already serialised as one JSON line (without its newline). */
  appendLine(json: string): Segment | undefined {
    if (this.#closed) return undefined;
    let segment: Segment | undefined;
    try {
      segment = this.#writable();
      const line = `${json}\n`;
      const fd = segment.fd as number;
      // One write() of a regular file writes it all; a short write (a full disk) is finished here, or fails.
      const written = fs.writeSync(fd, line);
      const length = written === line.length ? written : Buffer.byteLength(line);
      if (written < length) {
        const bytes = Buffer.from(line);
        for (let off = written; off < length; ) off += fs.writeSync(fd, bytes, off);
      }
      segment.bytes += length;
      segment.appended++;
      if (this.#failing) this.#log.info(`answered journal ${this.#dir} is writable again`);
      this.#failing = false;
      return segment;
    } catch (err) {
      if (!this.#failing)
        this.#log.error(
          `answered journal cannot be written (${String(err)}); calls are kept in memory only until it can, ` +
            "so a crash of the process now loses those not yet stored",
        );
      this.#failing = true;
      // The segment may hold part of a line: start a new one for the next call (the replay skips the torn line).
      if (segment) this.#seal(segment);
      return undefined;
    }
  }

  /** The row's line is no longer needed: its call is in the store, in a spool file or in a rejected file. */
  release(segment: Segment | undefined, count = 1): void {
    if (!segment) return;
    segment.released += count;
    if (!segment.drained) return;
    if (segment.sealed) this.#remove(segment);
    else if (Date.now() - segment.openedAt >= this.#maxAgeMs) {
      this.#seal(segment);
      this.#remove(segment);
    }
  }

  /** Closes the current segment; it is deleted if every line in it was released (else the next start replays it). */
  close(): void {
    this.#closed = true;
    const segment = this.#current;
    if (!segment) return;
    this.#seal(segment);
    if (segment.drained) this.#remove(segment);
  }

  #writable(): Segment {
    const current = this.#current;
    if (current && !current.sealed) {
      const old =
        current.bytes >= this.#maxBytes ||
        (current.drained && Date.now() - current.openedAt >= this.#maxAgeMs);
      if (!old) return current;
      this.#seal(current);
      if (current.drained) this.#remove(current);
    }
    const file = path.join(this.#dir, `answered-${this.#instance}-${this.#seq++}.jsonl`);
    const segment = new Segment(this, file, fs.openSync(file, "a"));
    this.#current = segment;
    return segment;
  }

  #seal(segment: Segment): void {
    if (segment.fd === undefined) return;
    const fd = segment.fd;
    segment.fd = undefined;
    if (this.#current === segment) this.#current = undefined;
    try {
      fs.closeSync(fd);
    } catch {}
  }

  #remove(segment: Segment): void {
    try {
      fs.rmSync(segment.path, { force: true });
    } catch (err) {
      this.#log.warn(`could not remove ${segment.path}: ${String(err)}`);
    }
  }
}
