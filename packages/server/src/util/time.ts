/**
 * Stored times (ms since the epoch) as ISO 8601 strings, for every reader. The edge refuses times outside
 * 1970..9999 (util/bounds.ts), but rows written before that bound existed, or by another tool, may hold any
 * number: formatting one with `new Date(ms).toISOString()` throws `RangeError: Invalid time value` and breaks
 * the whole list that contains it. Here such a time is clamped into the range the edge accepts instead.
 */
import { MAX_TIME_MS, MIN_TIME_MS } from "./time-range.ts";

/** `ms` as ISO 8601, clamped to 1970-01-01 .. 9999-12-31 (a non-number reads as the epoch). */
export function isoTime(ms: number | string | bigint): string {
  const n = Number(ms);
  const clamped = Number.isFinite(n)
    ? Math.min(MAX_TIME_MS, Math.max(MIN_TIME_MS, Math.trunc(n)))
    : MIN_TIME_MS;
  return new Date(clamped).toISOString();
}

/** Like `isoTime`, keeping an absent time absent. */
export function isoTimeOrNull(ms: number | string | bigint | null | undefined): string | null {
  return ms === null || ms === undefined ? null : isoTime(ms);
}
