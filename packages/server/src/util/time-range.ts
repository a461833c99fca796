/**
 * The range of times every store and reader accepts (util/bounds.ts has the schemas that enforce it). Apart from
 * the schemas so that what only formats times (util/time.ts, and through it the writer thread) does not load zod.
 */
/** Earliest time accepted: the Unix epoch. Times are stored as non-negative ms. */
export const MIN_TIME_MS = 0;
/**
 * Latest time accepted: the end of year 9999. Every reader handles it: JS `Date` (valid to ±8.64e15 ms, and
 * `toISOString` keeps a four-digit year up to here), SQLite's date functions (years 0000 to 9999) and
 * PostgreSQL (`bigint` columns, `timestamp` to year 294276). `startedAt: 9e15` used to be stored and then
 * make every list that formats it throw `RangeError: Invalid time value`.
 */
export const MAX_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
