/**
 * The last place a captured call can go: `rejected-YYYY-MM-DD.jsonl` in the data directory, one JSON line per
 * call that could not be stored (a record that could not be built, a row the store refused although it
 * answered). Nothing the proxy captured disappears without a line here, a count in
 * `intersebd_rejected_records_total{reason}` and a warning naming the call; an operator can read, fix and
 * re-import what is kept.
 */
import fsp from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../util/log.ts";

/** `unbuildable`: the record could not be built from what the proxy saw; `store_refused`: the store refused the row. */
export type RejectReason = "unbuildable" | "store_refused";

export interface RejectedMetrics {
  rejectedRecords: { inc(labels: { reason: RejectReason }, by?: number): void };
  droppedRecords: { inc(by?: number): void };
}

/** One line of a rejected file. `row` is whatever could be serialised of the call, credentials never included. */
export interface RejectedLine {
  id: string;
  reason: RejectReason;
  error: string;
  rejectedAt: string;
  row: Record<string, unknown>;
}

export class RejectedCalls {
  readonly #dir: string;
  readonly #metrics: RejectedMetrics;
  readonly #log: Logger;
  /** Appends run one after the other, so that lines never interleave and `flush` can wait for them. */
  #tail: Promise<void> = Promise.resolve();

  constructor(dir: string, metrics: RejectedMetrics, log: Logger) {
    this.#dir = dir;
    this.#metrics = metrics;
    this.#log = log;
  }

  /** The file a call rejected at `at` goes to. */
  fileFor(at: Date): string {
    return path.join(this.#dir, `rejected-${at.toISOString().slice(0, 10)}.jsonl`);
  }

  /** Sets a call aside; never throws. Resolves once the line is written (or its loss counted and logged). */
  add(id: string, reason: RejectReason, err: unknown, row: Record<string, unknown>): Promise<void> {
    const at = new Date();
    const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    const write = async () => {
      const file = this.fileFor(at);
      try {
        const line: RejectedLine = { id, reason, error, rejectedAt: at.toISOString(), row };
        await fsp.mkdir(this.#dir, { recursive: true });
        await fsp.appendFile(file, `${JSON.stringify(line)}\n`);
        this.#metrics.rejectedRecords.inc({ reason });
        this.#log.warn(`call ${id} could not be stored (${reason}: ${error}); set aside in ${file}`);
      } catch (writeErr) {
        this.#metrics.droppedRecords.inc();
        this.#log.error(
          `call ${id} could not be stored (${reason}: ${error}) nor set aside in ${file}: ${String(writeErr)}; it is lost`,
        );
      }
    };
    this.#tail = this.#tail.then(write);
    return this.#tail;
  }

  /** Resolves once every line handed over so far is written. */
  flush(): Promise<void> {
    return this.#tail;
  }
}
