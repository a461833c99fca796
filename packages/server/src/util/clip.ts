/**
 * Shortening text for people to read (previews, error messages, a judge's prompt): one rule everywhere, so a
 * cut never falls between the halves of a surrogate pair (which would leave a lone surrogate, refused by
 * PostgreSQL's jsonb and not representable in UTF-8).
 */

/** What follows a cut text by default. */
const ELLIPSIS = () => "…";

/**
 * `s` cut to its first `max` code points, followed by `marker(cutUnits)` (`…` by default; `cutUnits` is how
 * many UTF-16 units were cut); `s` itself when it is no longer. Counts only as far as `max`: `s` may be
 * megabytes long.
 */
export function clip(s: string, max: number, marker: (cutUnits: number) => string = ELLIPSIS): string {
  // A string of at most `max` UTF-16 units has at most `max` code points: nothing to count.
  if (s.length <= max) return s;
  let end = 0;
  let points = 0;
  while (end < s.length && points < max) {
    const c = s.charCodeAt(end);
    end += c >= 0xd800 && c <= 0xdbff && end + 1 < s.length ? 2 : 1;
    points++;
  }
  return end < s.length ? `${s.slice(0, end)}${marker(s.length - end)}` : s;
}
