/**
 * Patterns that users supply (regex checks, JSON Schema `pattern`s, `INTERSEBD_REDACT_PATTERNS`) run on RE2
 * (re2js, pure JavaScript): matching takes time linear in the text, so no pattern can block the event loop.
 * V8's backtracking engine took about 3 s for `(a+)+$` on a 25-character answer, doubling with each character,
 * with the proxy and the API stalled meanwhile. RE2 has no backreferences or lookaround (what makes
 * backtracking necessary); a pattern that uses them is refused when it is given.
 */
import { RE2JS } from "re2js";

export type UserPattern = RE2JS;

/** JavaScript's flag letters, as users write them, in RE2JS's terms (`u` is RE2's only mode). */
const RE2_FLAGS: Record<string, number> = {
  i: RE2JS.CASE_INSENSITIVE,
  m: RE2JS.MULTILINE,
  s: RE2JS.DOTALL,
  u: 0,
};

/**
 * Compiles a user's pattern for RE2.
 * @throws Error naming the pattern and why RE2 cannot compile it.
 * @example
 * compileUserPattern("^echo:", "i").matcher(text).find()
 */
export function compileUserPattern(pattern: string, flags = ""): UserPattern {
  let f = 0;
  for (const ch of flags) f |= RE2_FLAGS[ch] ?? 0;
  try {
    return RE2JS.compile(pattern, f);
  } catch (err) {
    const why = (err as Error).message.replace(/^error parsing regexp: /, "");
    throw new Error(
      `/${pattern}/ is not a pattern this server runs (${why}); patterns use RE2 syntax, which matches in ` +
        "linear time: no backreferences (\\1) and no lookahead or lookbehind",
    );
  }
}
