/**
 * Seeded request generator for the fuzz test (fuzz.test.ts): fast-check arbitraries for every route the running
 * app has, the proxy and the app's pages, with path parameters, query strings, headers and bodies that start
 * from valid-looking values and are then broken in the ways that have broken the server before (issue 12):
 * malformed percent-encodings, NUL, out-of-range times and cursors, huge numbers, deep nesting, wrong types.
 *
 * Everything is drawn from fast-check with one seed (`fc.sample`), so a run is replayed by its seed; the ids the
 * requests refer to come from the world the test set up (`FuzzWorld`).
 */
import fc from "fast-check";

/** One HTTP request, exactly as it goes on the wire (the path is sent as is, never normalised). */
export interface FuzzRequest {
  method: string;
  /** Request-target, already percent-encoded (or deliberately mis-encoded). */
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** What it aims at, for grouping failures: `POST /api/calls/:id`, `proxy POST /v1/chat/completions`. */
  target: string;
  /** Set on requests the proxy forwards to a configured upstream. */
  proxied?: boolean;
  /** The status the fake upstream was told to answer (`x-fake-status`): the proxy passes it through. */
  upstreamStatus?: number;
  /** The fake upstream was told to cut the stream: the proxy can only cut the client's connection too. */
  upstreamDisconnects?: boolean;
}

export interface Route {
  method: string;
  /** Hono pattern, e.g. `/api/calls/:id`. */
  path: string;
}

/** What exists on the server under test, for requests that refer to real things. */
export interface FuzzWorld {
  routes: Route[];
  /** Known query parameters per route pattern (read from the server's own 400 answers). */
  queryParams: Map<string, string[]>;
  callIds: string[];
  completionIds: string[];
  tags: string[];
  notificationIds: string[];
  tokens: string[];
  datasets: string[];
  snapshotIds: string[];
  evalIds: string[];
  rubrics: string[];
  sessionIds: string[];
  userIds: string[];
  /** Named upstreams (`/<name>/v1`). */
  upstreams: string[];
  /** The server's own origin, e.g. `http://127.0.0.1:41234`. */
  origin: string;
  /** When the server requires a key: sent right, wrong or not at all. */
  apiKey?: string;
  /** Longest body worth sending (the server's INTERSEBD_MAX_BODY_BYTES); some requests go over it. */
  maxBodyBytes: number;
}

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] as const;

/** Placeholders replaced in the serialised body, so deep nesting costs no recursion here. */
const DEEP = (depth: number) => `\u0001deep:${depth}\u0001`;
const HUGE = (bytes: number) => `\u0001huge:${bytes}\u0001`;

/** JSON with every character outside printable ASCII escaped: the only form a header value can carry. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[^\x20-\x7e]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Serialises a body, expanding the deep-nesting and huge-string placeholders. */
export function serialise(value: unknown): string {
  return JSON.stringify(value).replace(/"\\u0001(deep|huge):(\d+)\\u0001"/g, (_, kind: string, n: string) =>
    kind === "deep"
      ? `${"[".repeat(Number(n))}${"]".repeat(Number(n))}`
      : JSON.stringify("x".repeat(Number(n))),
  );
}

const pick = <T>(values: readonly T[], fallback: T): fc.Arbitrary<T> =>
  values.length ? fc.constantFrom(...values) : fc.constant(fallback);

// ---------------------------------------------------------------------------------------------------------
// Strings, numbers and times

/** Text that has broken things: NUL, control characters, bidi overrides, lone surrogates, SQL and HTML. */
const nastyStrings = fc.constantFrom(
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\u0000\u0000\u0000",
  "line\nforged 2024-01-01T00:00:00.000Z error fake",
  "\r\n",
  "\t",
  "\u202e\u202d",
  "\ud800",
  "\udfff",
  "😀",
  "e\u0301",
  "'; drop table calls; --",
  "<script>alert(1)</script>",
  "javascript:alert(1)",
  "../../etc/passwd",
  "%00",
  "%ZZ",
  "\\u0000",
  "null",
  "undefined",
  "NaN",
  "__proto__",
  "constructor",
  "toString",
);

/** Text for a text field: short, often unicode or nasty (NUL, lone surrogates), within its usual bounds. */
const text: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.string({ maxLength: 20 }), weight: 3 },
  { arbitrary: fc.string({ unit: "grapheme", maxLength: 20 }), weight: 2 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 20 }), weight: 2 },
  { arbitrary: nastyStrings, weight: 3 },
);
/** Strings past every field's bound (serialised from a placeholder: no 300 kB strings held here). */
const hugeText = fc.constantFrom(HUGE(20_000), HUGE(300_000));

/** Numbers at and past every boundary: JS doubles, PostgreSQL integers and bigints, Date's range. */
const nastyNumbers = fc.constantFrom(
  0,
  -0,
  -1,
  0.5,
  1,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 63,
  -(2 ** 63),
  9e15,
  -9e15,
  8.64e15,
  8.64e15 + 1,
  1e21,
  1.7e308,
  -1.7e308,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  5e-324,
);
const number: fc.Arbitrary<number> = fc.oneof(
  nastyNumbers,
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** A time as the API takes it (ms or ISO 8601): now-ish, or far outside what a Date or a database holds. */
const time: fc.Arbitrary<number | string> = fc.oneof(
  { arbitrary: fc.constant(Date.now()), weight: 3 },
  { arbitrary: fc.integer({ min: 0, max: Date.now() + 365 * 86_400_000 }), weight: 2 },
  {
    arbitrary: fc.constantFrom(
      0,
      9e15,
      8.64e15,
      8.64e15 + 1,
      1e20,
      2 ** 53,
      "2024-05-01T12:00:00Z",
      "2024-05-01T12:00:00.123+02:00",
      "+275760-09-13T00:00:00.001Z",
      "-271821-04-20T00:00:00.000Z",
      "9999-12-31T23:59:59.999Z",
      "0000-01-01T00:00:00Z",
      "2024-02-30T00:00:00Z",
    ),
    weight: 3,
  },
);

// ---------------------------------------------------------------------------------------------------------
// Values in bodies

/** Any value a field should refuse (or take) that is not of its type. */
const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: text, weight: 3 },
  { arbitrary: hugeText, weight: 1 },
  { arbitrary: number, weight: 3 },
  { arbitrary: fc.constantFrom(true, false, null, [], {}, [1, 2], { a: 1 }), weight: 2 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 2 },
  { arbitrary: fc.constantFrom(DEEP(100), DEEP(1000), DEEP(5000)), weight: 1 },
  {
    arbitrary: fc.constantFrom<unknown>({ "a\u0000b": 1 }, { "": 1 }, JSON.parse('{"__proto__":{"x":1}}')),
    weight: 1,
  },
);

/** A reference to a tag, mostly one that exists. */
const tagRef = (w: FuzzWorld): fc.Arbitrary<string> =>
  fc.oneof(
    { arbitrary: pick([...w.callIds, ...w.completionIds, ...w.tags], "tag-1"), weight: 6 },
    { arbitrary: fc.constantFrom("fuzz-tag-a", "fuzz-tag-b", "fuzz-tag-c"), weight: 2 },
    { arbitrary: text, weight: 2 },
  );

/**
 * Mostly the field's good value, now and then anything: rare enough that a body with a dozen fields is still
 * often valid, and reaches the store (where out-of-range values that pass validation do their harm).
 */
const mostly = <T>(good: fc.Arbitrary<T>): fc.Arbitrary<T | unknown> =>
  fc.oneof({ arbitrary: good, weight: 15 }, { arbitrary: wrongValue, weight: 1 });

const rec = (fields: Record<string, fc.Arbitrary<unknown>>, required: string[] = []) =>
  fc.record(fields, { requiredKeys: required }) as fc.Arbitrary<Record<string, unknown>>;

const messages = fc.array(
  rec(
    {
      role: mostly(fc.constantFrom("system", "user", "assistant", "developer")),
      content: fc.oneof(
        { arbitrary: fc.constantFrom("hello", "what is the weather in Paris?", "a".repeat(30)), weight: 4 },
        { arbitrary: text, weight: 2 },
        {
          arbitrary: fc.constant([
            { type: "text", text: "look" },
            { type: "image_url", image_url: { url: "javascript:alert(1)" } },
          ]),
          weight: 1,
        },
        { arbitrary: wrongValue, weight: 1 },
      ),
    },
    ["role", "content"],
  ),
  { minLength: 1, maxLength: 3 },
);

const metadata = fc.oneof(
  {
    arbitrary: rec({
      promptVersion: mostly(fc.constantFrom("v1", "v2", "v3", "a\u0000b", "\ud800")),
      team: text,
    }),
    weight: 4,
  },
  { arbitrary: fc.dictionary(text, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }), weight: 1 },
  { arbitrary: wrongValue, weight: 1 },
);

const chatBody = (w: FuzzWorld) =>
  rec(
    {
      model: mostly(fc.constantFrom("fake-model", "gpt-4o-mini", "fake-judge")),
      messages: mostly(messages),
      stream: mostly(fc.boolean()),
      stream_options: mostly(fc.constant({ include_usage: true })),
      n: mostly(fc.integer({ min: 1, max: 3 })),
      tools: fc.constant([{ type: "function", function: { name: "get_weather", parameters: {} } }]),
      metadata,
      temperature: number,
      user: tagRef(w),
    },
    ["model", "messages"],
  );

const completion = rec(
  {
    id: fc.oneof(fc.constant("chatcmpl-fuzz"), text),
    object: fc.constant("chat.completion"),
    model: mostly(fc.constant("fake-model")),
    choices: mostly(
      fc.constant([
        { index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" },
      ]) as fc.Arbitrary<unknown>,
    ),
    usage: mostly(
      rec({
        prompt_tokens: number,
        completion_tokens: number,
        total_tokens: number,
      }) as fc.Arbitrary<unknown>,
    ),
  },
  ["choices"],
);

/** Names datasets are created, renamed and deleted under: a small pool, so the same names come back. */
export const DATASET_POOL = ["ds-a", "ds-b", "ds-c"];

const datasetName = (w: FuzzWorld) =>
  fc.oneof(
    { arbitrary: pick([...w.datasets, ...DATASET_POOL], "ds"), weight: 4 },
    { arbitrary: fc.stringMatching(/^[a-z][a-z0-9._-]{0,12}$/), weight: 1 },
    { arbitrary: text, weight: 1 },
  );

const filter = (w: FuzzWorld) =>
  rec({
    model: mostly(fc.constantFrom(["fake-model"], ["a", "b"])),
    annotated: mostly(fc.boolean()),
    where: mostly(fc.constantFrom("reward >= 1", "reward >= 1 and has correction", "((", "reward >= 1e308")),
    minReward: mostly(number),
    from: mostly(time),
    to: mostly(time),
    userId: mostly(pick(w.userIds, "u")),
    hasCorrection: mostly(fc.boolean()),
  });

const checks = fc.array(
  fc.oneof(
    fc.constantFrom("contains:baseline", "equals:baseline", "json-schema", "latencyMs <= 1e308", "cost < 1"),
    fc.constantFrom("regex:^echo", "regex:(a+)+$", "regex:((a|a)*)*$", "regex:[", "tokens.total >= -1"),
    rec({ type: fc.constantFrom("regex", "contains", "equals", "json-schema"), pattern: text, value: text }),
    wrongValue,
  ),
  { maxLength: 3 },
);

/** A rubric field of each type with the settings that type takes (each then perhaps broken by `mostly`). */
const rubricField = fc.oneof(
  rec(
    {
      name: mostly(fc.constantFrom("quality", "score")),
      type: fc.constant("scale"),
      min: mostly(fc.integer({ min: -5, max: 5 })),
      max: mostly(fc.integer({ min: 6, max: 100 })),
      labels: mostly(fc.array(text, { maxLength: 3 })),
      required: mostly(fc.boolean()),
    },
    ["name", "type"],
  ),
  rec({ name: mostly(fc.constantFrom("reward", "thumbs")), type: fc.constant("boolean") }, ["name", "type"]),
  rec(
    {
      name: mostly(fc.constant("choice")),
      type: fc.constant("choice"),
      options: mostly(fc.constantFrom(["a", "b"], ["a", "a"], [], ["x\u0000"])),
    },
    ["name", "type", "options"],
  ),
  rec({ name: mostly(fc.constantFrom("comment", "why")), type: fc.constant("text") }, ["name", "type"]),
  rec({ name: mostly(fc.constant("correction")), type: fc.constant("correction") }, ["name", "type"]),
);

/** A valid-looking body for each write route, by `METHOD pattern`. */
function bodyFor(w: FuzzWorld, route: string): fc.Arbitrary<unknown> | undefined {
  switch (route) {
    case "POST /api/calls":
      return rec(
        {
          id: mostly(fc.string({ minLength: 1, maxLength: 30 })),
          startedAt: time,
          endedAt: time,
          ttftMs: mostly(fc.nat()),
          upstream: mostly(fc.constantFrom("sdk", "default")),
          stream: mostly(fc.boolean()),
          status: mostly(fc.constantFrom(200, 400, 500, 599)),
          outcome: mostly(
            fc.constantFrom("ok", "upstream_error", "network_error", "client_aborted", "timeout"),
          ),
          request: mostly(chatBody(w)),
          response: mostly(completion),
          sessionId: mostly(pick(w.sessionIds, "s")),
          userId: mostly(pick(w.userIds, "u")),
          tags: mostly(fc.array(tagRef(w), { maxLength: 3 })),
          metadata,
          source: mostly(fc.constantFrom("sdk", "api")),
        },
        ["request"],
      );
    case "POST /api/links":
      return rec({ upstreamTag: tagRef(w), downstreamTag: tagRef(w), metadata }, [
        "upstreamTag",
        "downstreamTag",
      ]);
    case "POST /api/annotations":
      return rec(
        {
          id: mostly(fc.string({ minLength: 1, maxLength: 20 })),
          annotationKey: tagRef(w),
          name: mostly(fc.constantFrom("reward", "quality", "helpful")),
          numericReward: fc.oneof(number, fc.constant(null)),
          content: fc.jsonValue({ maxDepth: 2 }),
          data: mostly(fc.jsonValue({ maxDepth: 2 })),
          comment: mostly(text),
          correction: mostly(fc.oneof(text, fc.constant({ role: "assistant", content: "better" }))),
          source: mostly(fc.constantFrom("code", "human", "user", "judge")),
          annotatorId: mostly(text),
          notificationId: mostly(pick(w.notificationIds, "n")),
        },
        ["annotationKey"],
      );
    case "POST /api/comparisons":
      return rec(
        {
          id: mostly(fc.string({ minLength: 1, maxLength: 20 })),
          a: tagRef(w),
          b: tagRef(w),
          choice: mostly(fc.constantFrom("a", "b", "tie")),
          reason: mostly(text),
          annotatorId: mostly(text),
          source: mostly(fc.constantFrom("code", "human")),
        },
        ["a", "b", "choice"],
      );
    case "POST /api/notifications":
      return rec(
        {
          id: mostly(fc.string({ minLength: 1, maxLength: 20 })),
          completionId: tagRef(w),
          sendNotificationTo: mostly(fc.constantFrom("alice@example.com", "bob")),
          message: mostly(text),
          rubric: mostly(pick(w.rubrics, "default")),
          metadata,
          expiresInSeconds: mostly(fc.integer({ min: 1, max: 86_400 })),
        },
        ["completionId", "sendNotificationTo"],
      );
    case "POST /api/a/:token/answers":
      return rec(
        {
          // The default rubric's fields, or those of the rubric "quality" the test defines.
          answers: mostly(
            fc.oneof(
              rec({ reward: mostly(fc.boolean()), comment: mostly(text), correction: mostly(text) }),
              rec({ quality: mostly(fc.integer({ min: 0, max: 6 })), comment: mostly(text) }),
            ),
          ),
          annotatorId: mostly(text),
        },
        ["answers"],
      );
    case "PUT /api/rubrics/:name":
      return rec(
        {
          description: mostly(text),
          fields: mostly(
            fc.uniqueArray(rubricField, { minLength: 1, maxLength: 3, selector: (f) => f.name }),
          ),
        },
        ["fields"],
      );
    case "POST /api/datasets":
    case "PUT /api/datasets/:name":
      return rec(
        { name: datasetName(w), description: mostly(text), filter: mostly(filter(w)) },
        route.startsWith("POST") ? ["name"] : [],
      );
    case "POST /api/evals":
      return rec(
        {
          callIds: mostly(fc.array(pick(w.callIds, "c"), { minLength: 1, maxLength: 3 })),
          candidate: mostly(
            rec({
              model: mostly(fc.constantFrom("fake-model", "fake-judge")),
              upstream: mostly(pick(w.upstreams, "default")),
              systemPrompt: mostly(text),
              params: mostly(rec({ temperature: number, max_tokens: number })),
              headers: mostly(
                fc.constantFrom(
                  { "x-trace": "1" },
                  { "x-goog-api-key": "sk-leak" },
                  { "anthropic-api-key": "sk-leak" },
                  { "proxy-authorization": "Basic eA==" },
                  { "x-auth-token": "t" },
                  { "x-fake-status": "500" },
                  { "bad header": "x" },
                ),
              ),
            }),
          ),
          checks: mostly(checks),
          judge: mostly(
            rec({ model: fc.constant("fake-judge"), mode: mostly(fc.constantFrom("absolute", "pairwise")) }, [
              "model",
              "mode",
            ]),
          ),
          concurrency: mostly(fc.integer({ min: 1, max: 4 })),
          seed: mostly(fc.nat()),
          maxCostUsd: mostly(fc.double({ min: 0, max: 10, noNaN: true })),
          dryRun: mostly(fc.boolean()),
        },
        ["candidate"],
      ).chain((b) =>
        // Exactly one of callIds or dataset (both, or neither, now and then).
        fc
          .oneof(
            { arbitrary: fc.constant({}), weight: 1 },
            {
              arbitrary: pick([...w.datasets, ...DATASET_POOL], "ds").map((dataset) => ({ dataset })),
              weight: 3,
            },
          )
          .map((extra) => {
            const { callIds, ...rest } = b;
            return "dataset" in extra ? { ...rest, ...extra } : { ...rest, callIds };
          }),
      );
    default:
      return undefined;
  }
}

/** Bodies that are not JSON, or JSON that no schema expects. */
const rawBodies = fc.constantFrom(
  "",
  " ",
  "{",
  '{"a":',
  "nul",
  "\u0000",
  '{"a":"\u0000"}',
  "[]",
  "null",
  '"str"',
  "1e999",
  "-0",
  "{}",
  "[{}]",
  "\ufeff{}",
  "a=1&b=2",
  `${"[".repeat(5000)}`,
  `${"[".repeat(100_000)}${"]".repeat(100_000)}`,
  `${'{"a":'.repeat(3000)}1${"}".repeat(3000)}`,
);

/** A route's body: its valid-looking shape, then perhaps broken (a field set to anything, a batch, not JSON). */
function bodyArb(w: FuzzWorld, route: string): fc.Arbitrary<string | undefined> {
  const base = bodyFor(w, route) ?? fc.constant({});
  const broken = fc.oneof(
    { arbitrary: base, weight: 4 },
    {
      arbitrary: fc
        .tuple(
          base,
          fc.oneof(fc.constantFrom("id", "name", "metadata", "request", "a\u0000b", "zzz"), text),
          wrongValue,
        )
        .map(([b, k, v]) => (b && typeof b === "object" && !Array.isArray(b) ? { ...b, [k]: v } : b)),
      weight: 4,
    },
    { arbitrary: fc.array(base, { minLength: 1, maxLength: 4 }), weight: 1 },
    { arbitrary: fc.constant(DEEP(5000)), weight: 1 },
    { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 1 },
  );
  return fc.oneof(
    { arbitrary: broken.map(serialise), weight: bodyFor(w, route) ? 50 : 5 },
    { arbitrary: rawBodies, weight: 5 },
    { arbitrary: fc.constant(undefined), weight: bodyFor(w, route) ? 5 : 30 },
    // Past INTERSEBD_MAX_BODY_BYTES: a 413, and the connection must survive it.
    { arbitrary: fc.constant(serialise({ big: HUGE(w.maxBodyBytes + 1000) })), weight: 1 },
  );
}

// ---------------------------------------------------------------------------------------------------------
// Paths and query strings (already encoded: what goes on the wire)

const enc = encodeURIComponent;
const safeEnc = (s: string) => {
  try {
    return enc(s);
  } catch {
    // A lone surrogate cannot be encoded as UTF-8; send its escape form.
    return enc(s.replace(/[\ud800-\udfff]/g, "?"));
  }
};

/** Path segments and query values that are not even well-formed: sent raw, as a hostile client would. */
const rawNasty = fc.constantFrom(
  "%00",
  "a%00b",
  "%ZZ",
  "%",
  "%%",
  "%E0%A4%A",
  "%C0%AF",
  "%FF%FE",
  "%ED%A0%80",
  "%0A",
  "%0D%0Aforged",
  "..",
  "%2e%2e",
  ".",
  "%2F",
  "%2F..%2F..%2Fetc%2Fpasswd",
  "%F0%9F%98%80",
  "%E2%80%AE",
  "-1",
  "0",
  "9e15",
  "NaN",
  "1.7e308",
  "99999999999999999999999",
  "a".repeat(3000),
  "b".repeat(20_000),
);

const segment: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: rawNasty, weight: 3 },
  { arbitrary: text.map((s) => safeEnc(s.length > 5000 ? s.slice(0, 5000) : s)), weight: 3 },
);

/** Ids that exist for a parameter, by the route it is in. */
function knownFor(w: FuzzWorld, pattern: string, param: string): string[] {
  if (param === "token") return w.tokens;
  if (pattern.startsWith("/api/calls")) return [...w.callIds, ...w.completionIds];
  if (pattern.startsWith("/api/tags")) return [...w.tags, ...w.callIds, ...w.completionIds];
  if (pattern.startsWith("/api/notifications")) return w.notificationIds;
  if (pattern.startsWith("/api/datasets")) return [...w.datasets, ...DATASET_POOL];
  if (pattern.startsWith("/api/snapshots")) return w.snapshotIds;
  if (pattern.startsWith("/api/evals")) return w.evalIds;
  if (pattern.startsWith("/api/rubrics")) return w.rubrics;
  if (pattern.startsWith("/api/sessions")) return w.sessionIds;
  return [];
}

function pathArb(w: FuzzWorld, pattern: string): fc.Arbitrary<string> {
  const parts = pattern.split("/").map((p) => {
    if (!p.startsWith(":")) return fc.constant(p);
    const known = knownFor(w, pattern, p.slice(1));
    return fc.oneof(
      { arbitrary: pick(known.map(safeEnc), "x"), weight: known.length ? 12 : 0 },
      { arbitrary: pick(known, "x").map((k) => `${safeEnc(k)}%00`), weight: 1 },
      { arbitrary: segment, weight: 8 },
    );
  });
  return fc.tuple(...parts).map((p) => p.join("/"));
}

/** Good values for the query parameters whose name says what they take. */
const goodQueryValues: Record<string, string[]> = {
  format: ["openai-sft", "openai-dpo", "trl-sft", "trl-dpo", "trl-kto", "rewards"],
  metric: ["reward", "passRate", "cost", "latency", "volume"],
  groupBy: ["model", "upstream", "promptVersion", "session", "user", "call"],
  bucket: ["hour", "day"],
  status: ["200", "500", "open", "done", "revoked", "expired", "queued", "running", "failed", "cancelled"],
  outcome: ["ok", "error", "ok,error"],
  annotated: ["true", "false"],
  annotationSource: ["code", "human", "user", "judge"],
  hasCorrection: ["true", "false", "1", "0"],
  hasComparison: ["true", "false"],
  report: ["1", "true"],
  manifest: ["1", "true"],
  part: ["train", "validation"],
  split: ["0.1", "0.5", "1", "0"],
  where: ["reward >= 1", "reward >= 1 and has correction", "((", "reward >= 1e308", "has correction"],
  limit: ["1", "50", "1000", "0", "-1", "100000"],
  offset: ["0", "1", "-1", "1e308"],
  name: ["reward", "quality"],
  from: ["0", "2024-01-01T00:00:00Z"],
  to: [String(Date.now() + 86_400_000)],
};

const cursorValue = (t: unknown, id: unknown) => Buffer.from(JSON.stringify([t, id])).toString("base64url");

/** Query values: the parameter's good ones, numbers and times out of range, forged cursors, text. */
function queryValueArb(w: FuzzWorld, name: string): fc.Arbitrary<string> {
  // Own keys only: parameter names such as `__proto__` are fuzzed too.
  const good = Object.hasOwn(goodQueryValues, name) ? (goodQueryValues[name] ?? []) : [];
  const ids = [...w.callIds, ...w.sessionIds, ...w.userIds, ...w.tags, ...w.datasets];
  return fc.oneof(
    { arbitrary: pick(good.map(safeEnc), "1"), weight: good.length ? 4 : 0 },
    { arbitrary: pick(ids.map(safeEnc), "x"), weight: 1 },
    { arbitrary: number.map((n) => String(n)), weight: 2 },
    { arbitrary: time.map((t) => safeEnc(String(t))), weight: 2 },
    {
      arbitrary: fc
        .tuple(
          fc.constantFrom(9e15, -9e15, 1e308, 8.64e15 + 1, 0, Date.now(), null, "x", 1.5),
          fc.oneof(pick(w.callIds, "c"), fc.constant("\u0000"), fc.constant(1)),
        )
        .map(([t, id]) => cursorValue(t, id)),
      weight: name === "cursor" ? 4 : 0,
    },
    { arbitrary: fc.constantFrom("", "NaN", "Infinity", "-Infinity", "0x10", "1e", "true"), weight: 1 },
    { arbitrary: segment, weight: 3 },
  );
}

/** Query parameters without which a route only ever answers 400: given, with a good value, most of the time. */
const requiredQuery: Record<string, string> = {
  "/api/metrics/timeseries": "metric",
  "/api/export": "format",
};

function queryArb(w: FuzzWorld, pattern: string): fc.Arbitrary<string> {
  const known = w.queryParams.get(pattern) ?? [];
  const required = Object.hasOwn(requiredQuery, pattern) ? requiredQuery[pattern] : undefined;
  const names = fc.oneof(
    { arbitrary: pick(known, "limit"), weight: known.length ? 8 : 0 },
    { arbitrary: fc.constantFrom("zzz", "modle", "%00", "%ZZ", "a[b]", "__proto__"), weight: 1 },
  );
  const pair = names.chain((name) => queryValueArb(w, name).map((v) => `${name}=${v}`));
  const first = required
    ? fc.oneof(
        { arbitrary: pick(goodQueryValues[required] ?? [], "x").map((v) => [`${required}=${v}`]), weight: 5 },
        { arbitrary: fc.constant([]), weight: 1 },
      )
    : fc.constant([]);
  return fc
    .tuple(first, fc.array(pair, { maxLength: 3 }))
    .map(([a, b]) => [...a, ...b])
    .chain((pairs) =>
      fc.constantFrom(
        pairs.length ? `?${pairs.join("&")}` : "",
        pairs.length ? `?${pairs.join("&")}&${pairs[0]}` : "?",
      ),
    );
}

// ---------------------------------------------------------------------------------------------------------
// Headers

function headersArb(w: FuzzWorld, hasBody: boolean): fc.Arbitrary<Record<string, string>> {
  return fc
    .record({
      contentType: fc.oneof(
        { arbitrary: fc.constant("application/json"), weight: hasBody ? 12 : 1 },
        {
          arbitrary: fc.constantFrom(
            "application/json; charset=utf-8",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
          ),
          weight: 2,
        },
        { arbitrary: fc.constant(undefined), weight: hasBody ? 1 : 8 },
      ),
      origin: fc.oneof(
        { arbitrary: fc.constant(undefined), weight: 12 },
        { arbitrary: fc.constant(w.origin), weight: 2 },
        { arbitrary: fc.constantFrom("http://evil.example", "null"), weight: 1 },
      ),
      fetchSite: fc.oneof(
        { arbitrary: fc.constant(undefined), weight: 10 },
        { arbitrary: fc.constantFrom("cross-site", "same-origin", "same-site", "none"), weight: 1 },
      ),
      key: w.apiKey
        ? fc.oneof(
            { arbitrary: fc.constant({ "x-intersebd-key": w.apiKey }), weight: 3 },
            { arbitrary: fc.constant({ authorization: `Bearer ${w.apiKey}` }), weight: 1 },
            { arbitrary: fc.constant({ "x-intersebd-key": `${w.apiKey}x` }), weight: 1 },
            { arbitrary: fc.constant({ authorization: "Bearer " }), weight: 1 },
            { arbitrary: fc.constant({}), weight: 3 },
          )
        : fc.constant({}),
    })
    .map(({ contentType, origin, fetchSite, key }) => {
      const h: Record<string, string> = { ...key };
      if (contentType) h["content-type"] = contentType;
      if (origin) h.origin = origin;
      if (fetchSite) h["sec-fetch-site"] = fetchSite;
      return h;
    });
}

// ---------------------------------------------------------------------------------------------------------
// Requests

/** A request to one of the app's API routes, mostly with the route's own method. */
function apiRequest(w: FuzzWorld): fc.Arbitrary<FuzzRequest> {
  const routes = w.routes.filter((r) => r.path.startsWith("/api/") && !r.path.includes("*"));
  return fc.constantFrom(...routes).chain((route) => {
    const key = `${route.method} ${route.path}`;
    return fc
      .record({
        method: fc.oneof(
          { arbitrary: fc.constant(route.method), weight: 8 },
          { arbitrary: fc.constantFrom(...METHODS), weight: 2 },
        ),
        path: pathArb(w, route.path),
        query: fc.oneof(
          { arbitrary: queryArb(w, route.path), weight: route.method === "GET" ? 6 : 1 },
          { arbitrary: fc.constant(""), weight: route.method === "GET" ? 2 : 6 },
        ),
        body: bodyArb(w, key),
      })
      .chain(({ method, path, query, body }) => {
        const sendsBody = method !== "GET" && method !== "HEAD" ? body : undefined;
        // An erasure deletes calls by design (users, sessions, tags the fuzz also sends through the proxy), and
        // the run's end checks that every proxied call was stored: erasures are fuzzed as dry runs, which run
        // the same work and roll it back.
        const erases = method === "DELETE" && /^\/api\/(?:users|sessions|tags)\//.test(path);
        const fullQuery = erases ? `${query}${query ? "&" : "?"}dryRun=true` : query;
        return headersArb(w, sendsBody !== undefined).map(
          (headers): FuzzRequest => ({
            method,
            path: path + fullQuery,
            headers,
            body: sendsBody,
            target: `${method} ${route.path}`,
          }),
        );
      });
  });
}

/** A request through the proxy: chat completions (streamed or not), models, embeddings, named and unknown upstreams. */
function proxyRequest(w: FuzzWorld): fc.Arbitrary<FuzzRequest> {
  const prefix = fc.oneof(
    { arbitrary: fc.constant(""), weight: 6 },
    {
      arbitrary: pick(
        w.upstreams.map((u) => `/${u}`),
        "",
      ),
      weight: 3,
    },
    { arbitrary: segment.map((s) => `/${s}`), weight: 2 },
    {
      arbitrary: fc.constantFrom("/api", "/nosuch", "/%ZZ", "/%", "/%E0%A4%A", "/%00", "/..", "/a%0Ab"),
      weight: 2,
    },
  );
  const rest = fc.oneof(
    { arbitrary: fc.constant("/chat/completions"), weight: 8 },
    {
      arbitrary: fc.constantFrom(
        "/models",
        "/embeddings",
        "",
        "/",
        "/chat/completions/",
        "/chat/completions?x=1",
        "/../../admin",
        "/%2e%2e/%2e%2e/admin",
        "/chat/../../../admin",
        "/nope",
        "?x=%ZZ",
      ),
      weight: 3,
    },
    { arbitrary: segment.map((s) => `/${s}`), weight: 1 },
  );
  return fc
    .record({
      prefix,
      rest,
      method: fc.oneof(
        { arbitrary: fc.constant("POST"), weight: 6 },
        { arbitrary: fc.constantFrom(...METHODS), weight: 2 },
      ),
      chat: chatBody(w),
      body: fc.oneof(
        { arbitrary: fc.constant(undefined), weight: 6 },
        { arbitrary: bodyArb(w, "proxy"), weight: 2 },
      ),
      upstreamStatus: fc.oneof(
        { arbitrary: fc.constant(undefined), weight: 10 },
        { arbitrary: fc.constantFrom(400, 401, 404, 429, 500, 502, 503), weight: 2 },
      ),
      delay: fc.oneof(
        { arbitrary: fc.constant(undefined), weight: 20 },
        { arbitrary: fc.constantFrom(10, 50, 2500), weight: 1 },
      ),
      disconnect: fc.oneof(
        { arbitrary: fc.constant(undefined), weight: 20 },
        { arbitrary: fc.constantFrom(0, 1, 2), weight: 1 },
      ),
      context: fc.record(
        {
          "x-intersebd-session-id": pick(w.sessionIds, "s"),
          "x-intersebd-user-id": fc.oneof(pick(w.userIds, "u"), text.map(asciiJson)),
          "x-intersebd-tags": fc
            .array(tagRef(w), { maxLength: 3 })
            .map((t) => asciiJson(t.join(",")).slice(1, -1)),
          "x-intersebd-metadata": fc.oneof(
            metadata.map(asciiJson),
            fc.constantFrom("{", "[]", "null", `${"[".repeat(5000)}${"]".repeat(5000)}`),
            fc.constant(`{"a":${"[".repeat(5000)}${"]".repeat(5000)}}`),
          ),
        },
        { requiredKeys: [] },
      ),
      headers: headersArb(w, true),
    })
    .map(({ prefix, rest, method, chat, body, upstreamStatus, delay, disconnect, context, headers }) => {
      const path = `${prefix}/v1${rest}`;
      const named = prefix === "" || w.upstreams.some((u) => prefix === `/${u}`);
      const h: Record<string, string> = { ...headers, ...context };
      if (upstreamStatus) h["x-fake-status"] = String(upstreamStatus);
      if (delay) h["x-fake-delay-ms"] = String(delay);
      if (disconnect !== undefined) h["x-fake-disconnect-after"] = String(disconnect);
      const sendsBody = method !== "GET" && method !== "HEAD";
      return {
        method,
        path,
        headers: h,
        body: sendsBody ? (body ?? serialise(chat)) : undefined,
        target: `proxy ${method} ${named ? prefix || "" : "/<fuzz>"}/v1${rest.startsWith("/chat/completions") ? "/chat/completions" : rest.length > 20 ? "/<fuzz>" : rest}`,
        proxied: named,
        upstreamStatus,
        upstreamDisconnects: disconnect !== undefined,
      };
    });
}

/** The web app's pages and assets, and paths that belong to nothing. */
function pageRequest(w: FuzzWorld): fc.Arbitrary<FuzzRequest> {
  const path = fc.oneof(
    fc.constantFrom("/", "/index.html", "/favicon.svg", "/calls", "/review", "/datasets", "/settings"),
    pick(w.callIds, "x").map((id) => `/calls/${id}`),
    pick(w.tokens, "x").map((t) => `/a/${t}`),
    segment.map((s) => `/a/${s}`),
    segment.map((s) => `/calls/${s}`),
    segment.map((s) => `/assets/${s}`),
    segment.map((s) => `/${s}`),
    fc.constantFrom(
      "/assets/..%2f..%2f..%2fpackage.json",
      "/%2e%2e/%2e%2e/package.json",
      "/..",
      "/api/a/../calls",
      "/api/a/%2e%2e/calls",
      "/api/a/x/..%2f..%2fcalls",
      "/api/a/%2e%2e%2fcalls",
      "/healthz",
      "/metrics",
      "/healthz?%ZZ",
      "/metrics/%00",
      "//",
      "/?%",
    ),
  );
  return fc
    .record({
      path,
      method: fc.oneof(
        { arbitrary: fc.constant("GET"), weight: 6 },
        { arbitrary: fc.constantFrom(...METHODS), weight: 2 },
      ),
      body: bodyArb(w, "page"),
      headers: headersArb(w, false),
    })
    .map(({ path, method, body, headers }) => ({
      method,
      path,
      headers,
      body: method === "GET" || method === "HEAD" ? undefined : body,
      target: `page ${method} ${path.startsWith("/assets/") ? "/assets/*" : path.startsWith("/a/") ? "/a/*" : path.startsWith("/calls/") ? "/calls/*" : path.length > 30 ? "/<fuzz>" : path}`,
    }));
}

/** Every kind of request, API routes most often. */
export function requestArb(w: FuzzWorld): fc.Arbitrary<FuzzRequest> {
  return fc.oneof(
    { arbitrary: apiRequest(w), weight: 7 },
    { arbitrary: proxyRequest(w), weight: 3 },
    { arbitrary: pageRequest(w), weight: 1 },
  );
}

/** `runs` requests drawn with `seed`: the same seed and world give the same requests. */
export function fuzzRequests(w: FuzzWorld, seed: number, runs: number): FuzzRequest[] {
  return fc.sample(requestArb(w), { seed, numRuns: runs });
}
