/**
 * One place that decides whether an error means "the store cannot be reached right now" (the database restarts,
 * refuses connections, drops them, is overloaded, or is locked) rather than "this query is wrong". The API
 * answers the first with a 503 and a Retry-After, background workers back off and try again, and the
 * write-behind recorder spools: none of them is a bug worth a stack trace.
 */
import type { Logger } from "../util/log.ts";

/** Node's socket and DNS error codes for a peer that is gone, refusing, or unreachable. */
const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ECONNABORTED: "connection aborted",
  ETIMEDOUT: "connection timed out",
  EPIPE: "connection closed",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host lookup failed",
};

/**
 * PostgreSQL SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html) of a server that is
 * going away, starting up, or full; class 08 (connection exceptions) is matched as a whole below.
 */
const PG_CODES: Record<string, string> = {
  "57P01": "the server is shutting down",
  "57P02": "the server crashed",
  "57P03": "the server is starting up",
  "53300": "too many connections",
};

/** Messages of the `pg` driver and pool, which carry no code. */
const PG_MESSAGES: Array<[RegExp, string]> = [
  [/^Connection terminated/, "connection lost"],
  [/timeout exceeded when trying to connect/, "no connection within the connect timeout"],
  [/^timeout expired$/, "no connection within the connect timeout"],
  [/Query read timeout/, "no answer within the query timeout"],
  [/is not queryable/, "connection lost"],
];

/** SQLite result codes (the low byte of an extended code): SQLITE_BUSY and SQLITE_LOCKED. */
const SQLITE_CODES: Record<number, string> = { 5: "database is locked", 6: "database is locked" };

/** SQLITE_BUSY, extended codes included: another connection holds the lock, and trying again later may succeed. */
export function isSqliteBusy(err: unknown): boolean {
  const errcode = (err as ErrorLike | null)?.errcode;
  return typeof errcode === "number" && (errcode & 0xff) === 5;
}

interface ErrorLike {
  code?: unknown;
  errcode?: unknown;
  message?: unknown;
  cause?: unknown;
  errors?: unknown;
}

/**
 * A short reason (e.g. "connection refused", "the server is starting up") when `err` means the store is
 * unreachable or refusing work for now, else undefined. Looks into AggregateErrors (a host name with several
 * addresses refuses once per address) and `cause` chains; a socket code is believed only on the error itself
 * or an aggregate's member, never on a cause: `fetch` reports an unreachable HTTP server as a TypeError whose
 * cause is ECONNREFUSED, and that is not the database.
 */
export function storeUnavailableReason(err: unknown): string | undefined {
  return reasonOf(err, 0, true);
}

function reasonOf(err: unknown, depth: number, socketCodes: boolean): string | undefined {
  if (depth > 5 || typeof err !== "object" || err === null) return undefined;
  const e = err as ErrorLike;
  const code = typeof e.code === "string" ? e.code : undefined;
  const message = typeof e.message === "string" ? e.message : "";
  if (code) {
    if (socketCodes && NETWORK_CODES[code]) return NETWORK_CODES[code];
    if (PG_CODES[code]) return PG_CODES[code];
    if (/^08[0-9A-Z]{3}$/.test(code)) return "connection failure";
  }
  if (typeof e.errcode === "number" && SQLITE_CODES[e.errcode & 0xff]) return SQLITE_CODES[e.errcode & 0xff];
  if (/database is locked|database table is locked/.test(message)) return "database is locked";
  for (const [pattern, reason] of PG_MESSAGES) if (pattern.test(message)) return reason;
  if (Array.isArray(e.errors)) {
    for (const inner of e.errors) {
      const reason = reasonOf(inner, depth + 1, socketCodes);
      if (reason) return reason;
    }
  }
  return reasonOf(e.cause, depth + 1, false);
}

/** Whether `err` means the store is unreachable or refusing work for now (see `storeUnavailableReason`). */
export function isStoreUnavailable(err: unknown): boolean {
  return storeUnavailableReason(err) !== undefined;
}

/**
 * Logs store outages without flooding: the first failure of an outage at warn, then at most one line every
 * `everyMs` while failures continue (saying how many were not logged). An outage ends at the next `succeeded()`,
 * or, for callers that only ever see failures (the API's error handler), when none came for `everyMs`.
 */
export class OutageLog {
  readonly #what: string;
  readonly #log: Pick<Logger, "warn" | "info">;
  readonly #everyMs: number;
  #since: number | undefined;
  #lastFailureAt = 0;
  #lastLogAt = 0;
  #quiet = 0;

  constructor(what: string, log: Pick<Logger, "warn" | "info">, everyMs = 30_000) {
    this.#what = what;
    this.#log = log;
    this.#everyMs = everyMs;
  }

  /** Whether an outage is under way (a failure was seen and no success since). */
  get down(): boolean {
    return this.#since !== undefined;
  }

  failed(reason: string): void {
    const now = Date.now();
    if (this.#since !== undefined && now - this.#lastFailureAt > this.#everyMs) this.#since = undefined;
    this.#lastFailureAt = now;
    if (this.#since === undefined) {
      this.#since = now;
      this.#lastLogAt = now;
      this.#quiet = 0;
      this.#log.warn(`${this.#what}: the database is unavailable (${reason}); retrying`);
      return;
    }
    if (now - this.#lastLogAt < this.#everyMs) {
      this.#quiet++;
      return;
    }
    const seconds = Math.round((now - this.#since) / 1000);
    const quiet = this.#quiet ? `; ${this.#quiet} more failures not logged` : "";
    this.#log.warn(`${this.#what}: the database is still unavailable (${reason}) after ${seconds} s${quiet}`);
    this.#lastLogAt = now;
    this.#quiet = 0;
  }

  succeeded(): void {
    if (this.#since === undefined) return;
    this.#log.info(`${this.#what}: the database answers again after ${Date.now() - this.#since} ms`);
    this.#since = undefined;
  }
}
