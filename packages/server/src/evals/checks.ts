/**
 * Checks: the expectations a team writes down, declared in JSON (a checks file, the API, `--check`) or in code
 * (custom checks, `defineCheck` in the SDK). This file parses their declarations and runs the built-in ones;
 * LLM judges are in `judge.ts`.
 *
 * Shorthand strings, as `--check` takes them and the API accepts in `checks`:
 * `json-schema`, `regex:<pattern>`, `equals`, `contains`, `equals:baseline`, `contains:baseline`,
 * `<metric> <op> <number>` with metric `cost` (USD), `latencyMs`, `tokens.prompt`, `tokens.completion`,
 * `tokens.total` and op `<=`, `<`, `>=`, `>`, `==`; or the name of a check declared in the checks file.
 */
import fs from "node:fs";
import type { Ajv, Options as AjvOptions, ValidateFunction } from "ajv";
import { z } from "zod";
import { HttpError } from "../http/error.ts";
import { boundedNumber, jsonObject, text } from "../util/bounds.ts";
import { clip } from "../util/clip.ts";
import { onFirstUse } from "../util/on-first-use.ts";
import { compileUserPattern, type UserPattern } from "../util/user-pattern.ts";
import { fieldPath, issueMessage } from "../util/zod-issues.ts";

export const boundMetrics = [
  "cost",
  "latencyMs",
  "tokens.prompt",
  "tokens.completion",
  "tokens.total",
] as const;
export type BoundMetric = (typeof boundMetrics)[number];
export const boundOps = ["<=", "<", ">=", ">", "=="] as const;
export type BoundOp = (typeof boundOps)[number];

const name = text(200, { min: 1, trim: true, what: "name" });
const judgeFields = {
  name: name.optional(),
  model: text(200, { min: 1, trim: true, what: "model" }),
  upstream: text(100, { min: 1 }).optional().describe("a configured upstream; the default when absent"),
  rubric: text(20_000).optional().describe("what the judge should look for"),
};

/** A check as declared (API body, checks file). `name` defaults to a readable form of the check. */
export const checkSpecSchema = z.discriminatedUnion(
  "type",
  [
    z
      .object({
        type: z.literal("json-schema"),
        name: name.optional(),
        schema: jsonObject().optional().describe("default: the request's response_format.json_schema.schema"),
      })
      .strict(),
    z
      .object({
        type: z.literal("regex"),
        name: name.optional(),
        pattern: text(5000, { min: 1, what: "pattern" }).describe(
          "RE2 syntax (linear time): no backreferences or lookaround",
        ),
        flags: z
          .string()
          .regex(/^[imsu]*$/, "flags may only be i, m, s, u")
          .optional(),
      })
      .strict(),
    z
      .object({
        type: z.enum(["equals", "contains"]),
        name: name.optional(),
        against: z
          .enum(["reference", "baseline"])
          .default("reference")
          .describe("reference: the human correction; baseline: the logged answer"),
        ignoreCase: z.boolean().default(false),
      })
      .strict(),
    z
      .object({
        type: z.literal("bound"),
        name: name.optional(),
        metric: z.enum(boundMetrics),
        op: z.enum(boundOps),
        value: boundedNumber("value"),
      })
      .strict(),
    z
      .object({
        type: z.literal("judge"),
        mode: z.enum(["absolute", "pairwise"], { error: 'mode must be "absolute" or "pairwise"' }),
        ...judgeFields,
        scale: z
          .tuple([z.number().int(), z.number().int()])
          .refine(([lo, hi]) => lo < hi, "scale must be [low, high] with low < high")
          .optional()
          .describe("absolute judges: the score range, default [1, 5]"),
      })
      .strict(),
    z.object({ type: z.literal("custom"), name }).strict(),
    z
      .object({
        type: z.literal("moderation"),
        name: name.optional(),
        upstream: text(100, { min: 1 }).optional().describe("a configured upstream; the default when absent"),
        model: text(200, { min: 1, trim: true })
          .optional()
          .describe("the moderation model; the upstream's default"),
        includeUser: z.boolean().default(false).describe("moderate the last user message too"),
      })
      .strict(),
    z
      .object({
        type: z.literal("floor"),
        ...judgeFields,
        flags: z
          .array(text(200, { min: 1, trim: true, what: "flag" }))
          .min(1)
          .max(50)
          .optional()
          .describe("what the judge looks for; default the six of DEFAULT_FLOOR_FLAGS"),
      })
      .strict(),
  ],
  {
    error:
      "type must be one of json-schema, regex, equals, contains, bound, judge, custom, moderation, floor",
  },
);
export type CheckSpec = z.input<typeof checkSpecSchema>;

/** A check with its defaults applied and its name fixed. What a run stores. */
export type CheckDef =
  | { type: "json-schema"; name: string; schema?: Record<string, unknown> }
  | { type: "regex"; name: string; pattern: string; flags?: string }
  | {
      type: "equals" | "contains";
      name: string;
      against: "reference" | "baseline";
      ignoreCase: boolean;
    }
  | { type: "bound"; name: string; metric: BoundMetric; op: BoundOp; value: number }
  | JudgeDef
  | { type: "custom"; name: string }
  | FloorCheckDef;

/** The floor checks: what no answer may ever be, whatever else it is (see `floor.ts`). */
export type FloorCheckDef =
  | { type: "moderation"; name: string; upstream?: string; model?: string; includeUser: boolean }
  | { type: "floor"; name: string; model: string; upstream?: string; rubric?: string; flags: string[] };

/**
 * The flags a floor judge looks for when none are declared: what no answer of a consumer assistant may hold,
 * whatever the product (hate speech, sexual content, self-harm, violence), its own failures shown to the user,
 * and the one the seed's dating-style assistants need most.
 */
export const DEFAULT_FLOOR_FLAGS: readonly string[] = [
  "hate speech",
  "sexual content",
  "self-harm",
  "violence",
  "errors",
  "suggests meeting in real life",
];

export type JudgeDef =
  | {
      type: "judge";
      mode: "absolute";
      name: string;
      model: string;
      upstream?: string;
      rubric?: string;
      scale: [number, number];
    }
  | { type: "judge"; mode: "pairwise"; name: string; model: string; upstream?: string; rubric?: string };

/** What a custom check receives (the SDK's `CheckItem`, plus the baseline). */
export interface CustomCheckItem {
  /** The Chat Completions request the candidate was sent. */
  request: Record<string, unknown>;
  /** The candidate's `chat.completion`. */
  response: Record<string, unknown>;
  /** The human correction when there is one, else the logged baseline's assistant message. */
  reference?: unknown;
  /** The logged baseline call's request and response. */
  baseline: { request: Record<string, unknown>; response: Record<string, unknown> | null };
}

export interface CustomCheckResult {
  pass: boolean;
  score?: number;
  reason?: string;
}

/**
 * A check written in code, as the SDK's `defineCheck(name, fn)` returns it.
 *
 * @example
 * ```ts
 * const short: CustomCheck = { name: "short", run: ({ response }) => ({ pass: JSON.stringify(response).length < 2000 }) };
 * ```
 */
export interface CustomCheck {
  name: string;
  run(item: CustomCheckItem): CustomCheckResult | Promise<CustomCheckResult>;
}

const SHORTHAND_BOUND =
  /^\s*(cost|latencyMs|tokens\.(?:prompt|completion|total))\s*(<=|>=|==|<|>)\s*(-?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)\s*$/i;

function defaultName(spec: z.output<typeof checkSpecSchema>): string {
  switch (spec.type) {
    case "json-schema":
      return "json-schema";
    case "regex":
      return `regex:${spec.pattern}`;
    case "equals":
    case "contains":
      return spec.against === "baseline" ? `${spec.type}:baseline` : spec.type;
    case "bound":
      return `${spec.metric} ${spec.op} ${spec.value}`;
    case "judge":
      return spec.mode === "pairwise" ? "pairwise" : "judge";
    case "custom":
      return spec.name;
    case "moderation":
      return spec.upstream ? `moderation:${spec.upstream}` : "moderation";
    case "floor":
      return "floor";
  }
}

/** Parses a shorthand string; undefined when it is not one (then it may name a declared check). */
export function parseShorthand(s: string): CheckSpec | undefined {
  const t = s.trim();
  if (t === "json-schema" || t === "equals" || t === "contains") return { type: t } as CheckSpec;
  if (t === "equals:baseline" || t === "contains:baseline")
    return { type: t.slice(0, t.indexOf(":")) as "equals", against: "baseline" };
  if (t.startsWith("regex:")) return { type: "regex", pattern: t.slice("regex:".length) };
  if (t === "moderation") return { type: "moderation" };
  if (t.startsWith("moderation:")) return { type: "moderation", upstream: t.slice("moderation:".length) };
  if (t.startsWith("floor:")) return { type: "floor", model: t.slice("floor:".length) };
  const m = SHORTHAND_BOUND.exec(t);
  if (m) return { type: "bound", metric: m[1] as BoundMetric, op: m[2] as BoundOp, value: Number(m[3]) };
  return undefined;
}

/**
 * Turns declared checks into definitions: shorthands parsed, names of declared checks looked up, defaults
 * applied, regular expressions and schemas compiled once to reject bad ones early.
 * @throws HttpError 400 naming the field, e.g. `checks[1].pattern`.
 */
export function normalizeChecks(
  input: ReadonlyArray<unknown>,
  opts: { field?: string; declared?: ReadonlyMap<string, CheckDef>; custom?: ReadonlySet<string> } = {},
): CheckDef[] {
  const where = opts.field ?? "checks";
  const out: CheckDef[] = [];
  const seen = new Set<string>();
  input.forEach((raw, i) => {
    const field = `${where}[${i}]`;
    let def: CheckDef;
    if (typeof raw === "string") {
      const declared = opts.declared?.get(raw);
      if (declared) def = declared;
      else if (opts.custom?.has(raw)) def = { type: "custom", name: raw };
      else {
        const spec = parseShorthand(raw);
        if (!spec) {
          throw new HttpError(
            400,
            `${field}: "${raw}" is neither a check shorthand (json-schema, regex:<pattern>, equals, contains, ` +
              "moderation, floor:<judge model>, cost <= 0.01, latencyMs <= 2000, tokens.completion <= 500) nor the name of a declared check",
            { field },
          );
        }
        def = toDef(spec, field);
      }
    } else {
      def = toDef(raw, field);
    }
    if (def.type === "custom" && opts.custom && !opts.custom.has(def.name)) {
      throw new HttpError(400, `${field}: custom check "${def.name}" was not given in code`, { field });
    }
    if (def.type === "custom" && !opts.custom) {
      throw new HttpError(
        400,
        `${field}: custom checks are functions, so they run only from code (runEvaluation with defineCheck)`,
        { field: `${field}.type` },
      );
    }
    if (seen.has(def.name)) {
      throw new HttpError(400, `${field}.name: two checks are named "${def.name}"; give one a name`, {
        field: `${field}.name`,
      });
    }
    seen.add(def.name);
    out.push(def);
  });
  return out;
}

function toDef(raw: unknown, field: string): CheckDef {
  const r = checkSpecSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const f = fieldPath(issue?.path ?? [], field);
    throw new HttpError(400, `${f}: ${issueMessage(issue)}`, { field: f });
  }
  const spec = r.data;
  let def: CheckDef;
  if (spec.type === "judge") {
    const { scale, ...rest } = spec;
    if (spec.mode === "pairwise" && scale)
      throw new HttpError(400, `${field}.scale: only absolute judges have a scale`, {
        field: `${field}.scale`,
      });
    def =
      spec.mode === "pairwise"
        ? { ...rest, mode: "pairwise", name: spec.name ?? defaultName(spec) }
        : { ...rest, mode: "absolute", scale: scale ?? [1, 5], name: spec.name ?? defaultName(spec) };
  } else if (spec.type === "floor") {
    def = { ...spec, flags: spec.flags ?? [...DEFAULT_FLOOR_FLAGS], name: spec.name ?? defaultName(spec) };
  } else def = { ...spec, name: spec.name ?? defaultName(spec) } as CheckDef;
  if (def.type === "regex") {
    try {
      regexOf(def.pattern, def.flags);
    } catch (err) {
      throw new HttpError(400, `${field}.pattern: ${(err as Error).message}`, { field: `${field}.pattern` });
    }
  }
  if (def.type === "json-schema" && def.schema) {
    try {
      compileSchema(def.schema);
    } catch (err) {
      throw new HttpError(400, `${field}.schema: not a valid JSON Schema (${(err as Error).message})`, {
        field: `${field}.schema`,
      });
    }
  }
  return def;
}

/**
 * Reads a checks file: `{ "checks": [ ... ] }` or a bare array. Each needs a name when others refer to it.
 * @throws Error naming the file and the field.
 */
export function loadChecksFile(file: string): Map<string, CheckDef> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`checks file ${file}: ${(err as Error).message}`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { checks?: unknown } | null)?.checks;
  if (!Array.isArray(list)) throw new Error(`checks file ${file}: expected { "checks": [...] } or an array`);
  try {
    return new Map(normalizeChecks(list, { field: "checks", custom: new Set() }).map((d) => [d.name, d]));
  } catch (err) {
    throw new Error(`checks file ${file}: ${(err as Error).message}`);
  }
}

/**
 * Ajv's `pattern` and `patternProperties` run on RE2 too: a JSON Schema comes from a request or a user, and
 * its patterns are as much user input as a regex check's. One RE2 cannot compile fails the schema's compile.
 */
const re2Engine: NonNullable<NonNullable<AjvOptions["code"]>["regExp"]> = Object.assign(
  (pattern: string) => {
    const re = compileUserPattern(pattern);
    // Ajv keys compiled patterns by their `toString()`.
    return { test: (s: string) => re.test(s), toString: () => `/${pattern}/` };
  },
  { code: "re2js" },
);

const ajvModule = onFirstUse<typeof import("ajv")>("ajv");
let ajvInstance: Ajv | undefined;
// Strict mode off: schemas come from real requests, which carry keywords (`strict`, `title`...) Ajv would flag.
const ajv = () =>
  (ajvInstance ??= new (ajvModule().Ajv)({
    strict: false,
    allErrors: false,
    validateFormats: false,
    code: { regExp: re2Engine },
  }));
const compiled = new Map<string, ValidateFunction>();

/** Compiles a JSON Schema once per distinct schema (a run's items usually share one). */
export function compileSchema(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  let fn = compiled.get(key);
  if (!fn) {
    fn = ajv().compile(schema);
    if (compiled.size >= 200) compiled.delete(compiled.keys().next().value as string);
    compiled.set(key, fn);
  }
  return fn;
}

const regexes = new Map<string, UserPattern>();
function regexOf(pattern: string, flags = ""): UserPattern {
  const key = `${flags}/${pattern}`;
  let re = regexes.get(key);
  if (!re) {
    re = compileUserPattern(pattern, flags);
    if (regexes.size >= 200) regexes.delete(regexes.keys().next().value as string);
    regexes.set(key, re);
  }
  return re;
}

/** What built-in checks look at, for one item. */
export interface CheckSubject {
  /** The request the candidate was sent. */
  request: Record<string, unknown>;
  /** The candidate's answer text (first choice; tool calls as JSON when there is no text). */
  answer: string | null;
  /** The human correction's text, when the baseline call has one. */
  reference: string | null;
  /** The logged baseline answer's text. */
  baselineAnswer: string | null;
  costUsd: number | null;
  latencyMs: number;
  tokens: { prompt: number | null; completion: number | null; total: number | null };
}

/** One check's verdict on one item. `pass: null` means the check did not apply (or errored: see `error`). */
export interface CheckOutcome {
  name: string;
  type: CheckDef["type"];
  pass: boolean | null;
  score?: number;
  reason?: string;
  error?: string;
  /** Floor checks: what was flagged (empty when clean) and the passage that showed each flag. */
  flags?: string[];
  excerpts?: Record<string, string>;
}

const skipped = (def: CheckDef, reason: string): CheckOutcome => ({
  name: def.name,
  type: def.type,
  pass: null,
  reason,
});
const verdict = (def: CheckDef, pass: boolean, reason?: string): CheckOutcome => ({
  name: def.name,
  type: def.type,
  pass,
  ...(reason ? { reason } : {}),
});

function responseSchema(request: Record<string, unknown>): Record<string, unknown> | undefined {
  const rf = request.response_format as { json_schema?: { schema?: unknown } } | undefined;
  const schema = rf?.json_schema?.schema;
  return schema && typeof schema === "object" && !Array.isArray(schema)
    ? (schema as Record<string, unknown>)
    : undefined;
}

function metricOf(s: CheckSubject, metric: BoundMetric): number | null {
  switch (metric) {
    case "cost":
      return s.costUsd;
    case "latencyMs":
      return s.latencyMs;
    case "tokens.prompt":
      return s.tokens.prompt;
    case "tokens.completion":
      return s.tokens.completion;
    case "tokens.total":
      return s.tokens.total;
  }
}

function compare(a: number, op: BoundOp, b: number): boolean {
  switch (op) {
    case "<=":
      return a <= b;
    case "<":
      return a < b;
    case ">=":
      return a >= b;
    case ">":
      return a > b;
    case "==":
      return a === b;
  }
}

/**
 * Runs one built-in check (not a judge, not a custom check) on one item. Never throws: a check that cannot
 * apply returns `pass: null` with the reason.
 *
 * @example
 * ```ts
 * runBuiltinCheck({ type: "regex", name: "braces", pattern: "^\\{" }, subject); // { pass: true, ... }
 * ```
 */
export function runBuiltinCheck(def: CheckDef, s: CheckSubject): CheckOutcome {
  switch (def.type) {
    case "json-schema": {
      const schema = def.schema ?? responseSchema(s.request);
      if (!schema) return skipped(def, "no schema: none given and the request has no response_format schema");
      if (s.answer === null) return verdict(def, false, "no answer content");
      let value: unknown;
      try {
        value = JSON.parse(s.answer);
      } catch (err) {
        return verdict(def, false, `answer is not JSON: ${(err as Error).message}`);
      }
      let validate: ValidateFunction;
      try {
        validate = compileSchema(schema);
      } catch (err) {
        return { ...skipped(def, "the request's schema does not compile"), error: (err as Error).message };
      }
      if (validate(value)) return verdict(def, true);
      return verdict(def, false, ajv().errorsText(validate.errors?.slice(0, 1), { dataVar: "answer" }));
    }
    case "regex": {
      if (s.answer === null) return verdict(def, false, "no answer content");
      let re: UserPattern;
      try {
        re = regexOf(def.pattern, def.flags);
      } catch (err) {
        // A run stored before patterns were checked for RE2 may hold one it cannot compile.
        return { ...skipped(def, "the pattern does not compile"), error: (err as Error).message };
      }
      const ok = re.test(s.answer);
      return verdict(def, ok, ok ? undefined : `/${def.pattern}/ does not match "${clip(s.answer, 120)}"`);
    }
    case "equals":
    case "contains": {
      const target = def.against === "baseline" ? s.baselineAnswer : s.reference;
      if (target === null)
        return skipped(
          def,
          def.against === "baseline" ? "the baseline has no answer" : "no reference: no correction annotated",
        );
      if (s.answer === null) return verdict(def, false, "no answer content");
      const norm = (x: string) => (def.ignoreCase ? x.trim().toLowerCase() : x.trim());
      const a = norm(s.answer);
      const b = norm(target);
      const ok = def.type === "equals" ? a === b : a.includes(b);
      return verdict(
        def,
        ok,
        ok
          ? undefined
          : `"${clip(s.answer, 120)}" ${def.type === "equals" ? "≠" : "does not contain"} "${clip(target, 120)}"`,
      );
    }
    case "bound": {
      const v = metricOf(s, def.metric);
      if (v === null)
        return skipped(
          def,
          def.metric === "cost" ? "cost unknown (no price for the model)" : `${def.metric} unknown`,
        );
      const ok = compare(v, def.op, def.value);
      return {
        ...verdict(def, ok, ok ? undefined : `${def.metric} = ${v}, not ${def.op} ${def.value}`),
        score: v,
      };
    }
    default:
      return { ...skipped(def, "not a built-in check"), error: `check type ${def.type} is run elsewhere` };
  }
}

/** The text of an assistant answer: its content, or its tool calls as JSON when it has no text. */
export function answerText(message: unknown): string | null {
  if (typeof message === "string") return message;
  const m = message as { content?: unknown; tool_calls?: unknown } | null | undefined;
  if (!m || typeof m !== "object") return null;
  if (typeof m.content === "string") return m.content;
  if (Array.isArray(m.content))
    return m.content.map((p) => (p && typeof p === "object" && "text" in p ? String(p.text) : "")).join("");
  if (Array.isArray(m.tool_calls) && m.tool_calls.length) return JSON.stringify(m.tool_calls);
  return null;
}
