/**
 * `--where` (CLI) and `where=` (API, datasets): a small expression language over a call's resolved
 * annotations. Conditions joined by `and`; each must hold on its own (a different annotation may satisfy each).
 *
 *   reward >= 1                 an annotation named reward has numericReward >= 1 (ops: = != < <= > >=)
 *   helpful >= 4 by human       the same, from annotations of that source only (code, human, user, judge)
 *   source = human              some annotation comes from that source
 *   has correction              some annotation carries a correction
 *   has comparison              a pairwise choice names one of the call's tags
 *   has annotation              any annotation at all
 *   has <name>                  some annotation named <name>
 *
 * Names are letters, digits, `_`, `-`, `.` and `:`, or a "double-quoted" string. `or`, `not` and parentheses
 * are not supported: run several exports, or save several datasets.
 */
import { annotationSources } from "../graph/index.ts";

export const whereOps = ["=", "!=", "<", "<=", ">", ">="] as const;
export type WhereOp = (typeof whereOps)[number];
export type AnnotationSource = (typeof annotationSources)[number];

export type Condition =
  | { kind: "reward"; name: string; op: WhereOp; value: number; source?: AnnotationSource }
  | { kind: "source"; source: AnnotationSource }
  | { kind: "named"; name: string }
  | { kind: "annotated" }
  | { kind: "correction" }
  | { kind: "comparison" };

export class WhereError extends Error {
  override name = "WhereError";
}

type Token = { kind: "word" | "string" | "number" | "op"; text: string; at: number };

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  const re =
    /\s*(?:(>=|<=|!=|=|<|>)|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?![\w.:-])|([A-Za-z_][\w.:-]*)|"((?:[^"\\]|\\.)*)")/y;
  let pos = 0;
  while (pos < input.length) {
    if (/^\s*$/.test(input.slice(pos))) break;
    re.lastIndex = pos;
    const m = re.exec(input);
    if (!m && /^\s*[()]/.test(input.slice(pos)))
      throw new WhereError('parentheses are not supported: conditions can only be joined with "and"');
    if (!m) {
      const at = pos + (input.slice(pos).length - input.slice(pos).trimStart().length);
      throw new WhereError(`unexpected "${input.slice(at, at + 10)}" at character ${at + 1}`);
    }
    const at = pos + m[0].length - m[0].trimStart().length;
    if (m[1]) tokens.push({ kind: "op", text: m[1], at });
    else if (m[2]) tokens.push({ kind: "number", text: m[2], at });
    else if (m[3]) tokens.push({ kind: "word", text: m[3], at });
    else tokens.push({ kind: "string", text: (m[4] ?? "").replace(/\\(.)/g, "$1"), at });
    pos = re.lastIndex;
  }
  return tokens;
}

const SOURCES: readonly string[] = annotationSources;

function asSource(t: Token | undefined): AnnotationSource {
  if (!t || (t.kind !== "word" && t.kind !== "string") || !SOURCES.includes(t.text))
    throw new WhereError(`expected a source (${SOURCES.join(", ")})${t ? ` at "${t.text}"` : " at the end"}`);
  return t.text as AnnotationSource;
}

/**
 * Parses an expression into conditions.
 * @throws WhereError saying where and what was expected.
 * @example parseWhere("reward >= 1 and has correction")
 *   // [{ kind: "reward", name: "reward", op: ">=", value: 1 }, { kind: "correction" }]
 */
export function parseWhere(input: string): Condition[] {
  const tokens = tokenize(input);
  if (tokens.length === 0) return [];
  const out: Condition[] = [];
  let i = 0;
  const next = () => tokens[i++];
  const peekWord = (w: string) => tokens[i]?.kind === "word" && tokens[i]?.text.toLowerCase() === w;
  for (;;) {
    const t = next();
    if (!t) throw new WhereError("expected a condition at the end");
    if (t.kind === "word" && ["or", "not"].includes(t.text.toLowerCase()))
      throw new WhereError(`"${t.text}" is not supported: conditions can only be joined with "and"`);
    if (t.kind === "word" && t.text.toLowerCase() === "has") {
      const what = next();
      if (!what || (what.kind !== "word" && what.kind !== "string"))
        throw new WhereError(
          'expected what to have after "has": correction, comparison, annotation or a name',
        );
      const w = what.kind === "word" ? what.text.toLowerCase() : "";
      if (w === "correction") out.push({ kind: "correction" });
      else if (w === "comparison") out.push({ kind: "comparison" });
      else if (w === "annotation") out.push({ kind: "annotated" });
      else out.push({ kind: "named", name: what.text });
    } else if (t.kind === "word" && t.text.toLowerCase() === "source") {
      const op = next();
      if (op?.text !== "=") throw new WhereError('expected "=" after "source"');
      out.push({ kind: "source", source: asSource(next()) });
    } else if (t.kind === "word" || t.kind === "string") {
      const op = next();
      if (op?.kind === "word" && ["or", "and"].includes(op.text.toLowerCase()))
        throw new WhereError(
          `"${t.text}" alone is not a condition: write "${t.text} >= 1", "has ${t.text}" or "has correction"`,
        );
      if (op?.kind !== "op")
        throw new WhereError(`expected a comparison (${whereOps.join(" ")}) after "${t.text}"`);
      const v = next();
      if (v?.kind !== "number") throw new WhereError(`expected a number after "${t.text} ${op.text}"`);
      const cond: Condition = { kind: "reward", name: t.text, op: op.text as WhereOp, value: Number(v.text) };
      if (peekWord("by")) {
        i++;
        cond.source = asSource(next());
      }
      out.push(cond);
    } else {
      throw new WhereError(`unexpected "${t.text}" at character ${t.at + 1}: expected a condition`);
    }
    if (i >= tokens.length) return out;
    if (!peekWord("and")) {
      const u = tokens[i] as Token;
      if (u.text.toLowerCase() === "or")
        throw new WhereError('"or" is not supported: conditions can only be joined with "and"');
      throw new WhereError(`expected "and" before "${u.text}" at character ${u.at + 1}`);
    }
    i++;
  }
}
