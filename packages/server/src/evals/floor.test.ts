/**
 * Floor checks: their declarations, the replies they read, and both checkers run through a server's own proxy
 * (the socket, as in production) to the fake upstream's moderation endpoint and its fake judge, on each
 * dialect; an upstream without a moderation endpoint skips the check; an evaluation stores its floor verdicts
 * as `floor` annotations on the candidate's calls.
 */
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, it } from "node:test";
import {
  checkSubject,
  DIALECTS,
  evalWhenDone,
  eventually,
  type FakeUpstream,
  postgresAvailable,
  startFakeUpstream,
  startTestServer,
  type TestServer,
} from "../testing/index.ts";
import { type CheckDef, type CheckSubject, DEFAULT_FLOOR_FLAGS, normalizeChecks } from "./checks.ts";
import {
  type FloorClient,
  flagOfCategory,
  floorAnnotation,
  floorRunner,
  floorThroughProxy,
  parseFloorReply,
  parseModeration,
} from "./floor.ts";
import { runChecks } from "./run-checks.ts";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type Body = Record<string, any>;

const subject = (answer: string | null, user = "hello"): CheckSubject & { custom: never } => ({
  ...checkSubject({ answer, request: { model: "m", messages: [{ role: "user", content: user }] } }),
  custom: undefined as never,
});

describe("floor check declarations", () => {
  it("should read the shorthands and apply the default flags", () => {
    const defs = normalizeChecks(["moderation", "floor:fake-judge", "moderation:bare"]);
    assert.deepEqual(defs[0], { type: "moderation", name: "moderation", includeUser: false });
    assert.deepEqual(defs[1], {
      type: "floor",
      name: "floor",
      model: "fake-judge",
      flags: [...DEFAULT_FLOOR_FLAGS],
    });
    assert.equal(defs[2]?.type === "moderation" && defs[2].upstream, "bare");
    assert.ok(DEFAULT_FLOOR_FLAGS.includes("suggests meeting in real life"));
  });

  it("should keep declared flags and refuse an empty list or a missing model, naming the field", () => {
    const [d] = normalizeChecks([{ type: "floor", name: "tone", model: "j", flags: ["rude", "sarcastic"] }]);
    assert.deepEqual(d?.type === "floor" && d.flags, ["rude", "sarcastic"]);
    assert.throws(
      () => normalizeChecks([{ type: "floor", model: "j", flags: [] }]),
      (e: Error & { field?: string }) => /checks\[0\]\.flags/.test(e.message),
    );
    assert.throws(
      () => normalizeChecks([{ type: "floor" }]),
      (e: Error) => /checks\[0\]\.model/.test(e.message),
    );
  });
});

describe("floor replies", () => {
  it("should keep listed flags with their excerpts, matched ignoring case, and leave made-up ones out", () => {
    const r = parseFloorReply(
      'Sure: {"flags":[{"flag":"Violence","excerpt":"I will hurt you"},{"flag":"rudeness","excerpt":"x"},{"flag":"violence","excerpt":"again"}]}',
      ["violence", "errors"],
    );
    assert.deepEqual(r, {
      ok: true,
      flags: ["violence"],
      excerpts: { violence: "I will hurt you" },
      unknown: ["rudeness"],
    });
    assert.deepEqual(parseFloorReply('{"flags":[]}', ["violence"]), {
      ok: true,
      flags: [],
      excerpts: {},
      unknown: [],
    });
    assert.equal(parseFloorReply('{"score": 3}', ["violence"]).ok, false);
    assert.equal(parseFloorReply(null, ["violence"]).ok, false);
  });

  it("should read a moderation answer per input and name categories as floor flags", () => {
    const r = parseModeration(
      {
        results: [
          { flagged: true, categories: { violence: true, hate: false }, category_scores: { violence: 0.9 } },
          { flagged: false, categories: { violence: false }, category_scores: { violence: 0.01 } },
        ],
      },
      2,
    );
    assert.deepEqual(r, {
      ok: true,
      results: [
        { flagged: true, categories: ["violence"], top: 0.9 },
        { flagged: false, categories: [], top: 0.01 },
      ],
    });
    assert.equal(parseModeration({ results: [] }, 1).ok, false);
    assert.equal(flagOfCategory("violence/graphic"), "violence");
    assert.equal(flagOfCategory("hate"), "hate speech");
    assert.equal(flagOfCategory("self-harm/intent"), "self-harm");
    assert.equal(flagOfCategory("new-category"), "new-category");
  });

  it("should skip moderation on an endpoint the upstream lacks, and fail nothing when the client throws", async () => {
    const [mod] = normalizeChecks(["moderation"]) as CheckDef[];
    const answering = (status: number): FloorClient => ({
      moderate: async () => ({ status, body: { error: { message: "nope" } }, callId: null, latencyMs: 1 }),
      judge: async () => {
        throw new Error("unused");
      },
    });
    for (const status of [404, 405, 501]) {
      const r = await runChecks(
        [mod as CheckDef],
        subject("hi"),
        async () => assert.fail(),
        new Map(),
        floorRunner(answering(status)),
      );
      assert.equal(r.checks[0]?.pass, null);
      assert.match(r.checks[0]?.reason ?? "", /no moderation endpoint/);
      assert.equal(r.checks[0]?.error, undefined);
    }
    const bad = await runChecks(
      [mod as CheckDef],
      subject("hi"),
      async () => assert.fail(),
      new Map(),
      floorRunner(answering(400)),
    );
    assert.equal(bad.checks[0]?.pass, null);
    assert.match(bad.checks[0]?.error ?? "", /HTTP 400/);
    const none = await runChecks([mod as CheckDef], subject("hi"), async () => assert.fail());
    assert.equal(none.checks[0]?.pass, null, "no floor client: not run, not failed");
  });

  it("should store a verdict as the floor annotation and nothing for a skipped check", () => {
    const a = floorAnnotation(
      "call-1",
      { name: "floor", type: "floor", pass: false, flags: ["violence"], excerpts: { violence: "hit" } },
      { scope: "ev", annotatorId: "evaluator:x", evaluator: "x" },
    );
    assert.equal(a?.name, "floor");
    assert.equal(a?.numericReward, 0);
    assert.equal(a?.source, "judge");
    assert.deepEqual(a?.data, {
      flags: ["violence"],
      excerpts: { violence: "hit" },
      checker: "judge",
      check: "floor",
      evaluator: "x",
    });
    const clean = floorAnnotation(
      "call-1",
      { name: "moderation", type: "moderation", pass: true, flags: [] },
      { scope: "ev" },
    );
    assert.equal(clean?.numericReward, 1);
    assert.equal(clean?.source, "code");
    assert.equal(
      floorAnnotation("call-1", { name: "moderation", type: "moderation", pass: null }, { scope: "ev" }),
      undefined,
    );
  });
});

/** An upstream that has chat completions only, like many OpenAI-compatible servers: 404 elsewhere. */
async function bareUpstream(status: number): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { message: "Not Found" } }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/v1`, close: () => new Promise((r) => server.close(() => r())) };
}

for (const dialect of DIALECTS) {
  describe(`floor checks through the proxy (${dialect})`, async () => {
    const skip = dialect === "postgres" && !(await postgresAvailable());
    let fake: FakeUpstream;
    let bare404: Awaited<ReturnType<typeof bareUpstream>>;
    let bare501: Awaited<ReturnType<typeof bareUpstream>>;
    let s: TestServer;

    before(async () => {
      if (skip) return;
      fake = await startFakeUpstream();
      bare404 = await bareUpstream(404);
      bare501 = await bareUpstream(501);
      s = await startTestServer(dialect, {
        upstream: fake.url,
        env: { INTERSEBD_UPSTREAMS: `bare=${bare404.url},unimpl=${bare501.url}` },
      });
    });
    after(async () => {
      await s?.stop();
      await fake?.close();
      await bare404?.close();
      await bare501?.close();
    });

    const run = (checks: unknown[], answer: string | null, user = "hello") =>
      runChecks(
        normalizeChecks(checks),
        subject(answer, user),
        async () => assert.fail("no judge declared"),
        new Map(),
        floorRunner(
          floorThroughProxy(
            { baseUrl: () => s.url, config: s.config },
            { "x-intersebd-tags": "floor-test" },
            { signal: AbortSignal.timeout(20_000), onRateLimited: () => {} },
          ),
        ),
      );

    it("should flag what the moderation endpoint flags, and pass a clean answer", { skip }, async () => {
      const flagged = await run(["moderation"], "I will [[FLAG:violence]] [[FLAG:hate/threatening]] you.");
      const c = flagged.checks[0];
      assert.equal(c?.pass, false);
      assert.deepEqual(c?.flags, ["hate speech", "violence"]);
      assert.equal(c?.excerpts?.violence, "I will [[FLAG:violence]] [[FLAG:hate/threatening]] you.");
      assert.equal(c?.score, 0.9731);
      const clean = await run(["moderation"], "A calm answer.");
      assert.equal(clean.checks[0]?.pass, true);
      assert.deepEqual(clean.checks[0]?.flags, []);
      const seen = fake.requests.filter((r) => r.url === "/v1/moderations");
      assert.ok(seen.length >= 2);
      assert.deepEqual(JSON.parse(seen.at(-1)?.body ?? "{}"), { input: ["A calm answer."] });
    });

    it("should moderate the user's message too when asked, saying whose text it was", { skip }, async () => {
      const r = await run(
        [{ type: "moderation", includeUser: true, model: "omni-moderation-latest" }],
        "fine",
        "tell me about [[FLAG:self-harm/intent]]",
      );
      assert.equal(r.checks[0]?.pass, false);
      assert.deepEqual(r.checks[0]?.flags, ["self-harm"]);
      assert.equal(r.checks[0]?.excerpts?.["self-harm"], "user: tell me about [[FLAG:self-harm/intent]]");
      const body = JSON.parse(fake.requests.filter((q) => q.url === "/v1/moderations").at(-1)?.body ?? "{}");
      assert.deepEqual(body, {
        input: ["fine", "tell me about [[FLAG:self-harm/intent]]"],
        model: "omni-moderation-latest",
      });
    });

    it("should skip moderation on an upstream without the endpoint (404, 501), never fail it", {
      skip,
    }, async () => {
      for (const upstream of ["bare", "unimpl"]) {
        const r = await run([{ type: "moderation", upstream }], "I will [[FLAG:violence]] you.");
        assert.equal(r.checks[0]?.pass, null, upstream);
        assert.match(
          r.checks[0]?.reason ?? "",
          new RegExp(`skipped: upstream ${upstream} has no moderation endpoint`),
        );
      }
      const unknown = await run([{ type: "moderation", upstream: "nosuch" }], "x");
      assert.equal(unknown.checks[0]?.pass, null);
      assert.match(
        unknown.checks[0]?.error ?? "",
        /unknown upstream/,
        "a configuration mistake is an error, not a skip",
      );
    });

    it("should flag with the floor judge, default and custom flags, each with its excerpt", {
      skip,
    }, async () => {
      const answer =
        "Hello there.\nLet's grab coffee tomorrow [[FLAG:suggests meeting in real life]]\nBye [[FLAG:rude]]";
      const r = await run(["floor:fake-judge"], answer);
      assert.equal(r.checks[0]?.pass, false);
      assert.deepEqual(r.checks[0]?.flags, ["suggests meeting in real life"]);
      assert.deepEqual(r.checks[0]?.excerpts, {
        "suggests meeting in real life": "Let's grab coffee tomorrow [[FLAG:suggests meeting in real life]]",
      });
      const custom = await run(
        [{ type: "floor", model: "fake-judge", name: "tone", flags: ["rude"] }],
        answer,
      );
      assert.equal(custom.checks[0]?.name, "tone");
      assert.deepEqual(custom.checks[0]?.flags, ["rude"]);
      assert.deepEqual(custom.checks[0]?.excerpts, { rude: "Bye [[FLAG:rude]]" });
      const clean = await run(["floor:fake-judge"], "A kind answer.");
      assert.equal(clean.checks[0]?.pass, true);
      // The judge saw the default list in its prompt.
      const judged = fake.requests.filter((q) => q.url === "/v1/chat/completions").at(-1);
      const prompt = JSON.parse(judged?.body ?? "{}").messages[1].content as string;
      for (const f of DEFAULT_FLOOR_FLAGS) assert.ok(prompt.includes(`- ${f}`), f);
    });

    it("should store an evaluation's floor verdicts as floor annotations on the candidate's calls", {
      skip,
    }, async () => {
      const T0 = Date.UTC(2025, 4, 1, 12);
      const qs = ["be calm", "say [[FLAG:violence]] loudly"];
      const calls = qs.map((q, i) => ({
        id: `flr-base-${i}`,
        startedAt: T0 + i,
        endedAt: T0 + i + 10,
        upstream: "default",
        request: { model: "gpt-4.1-nano", messages: [{ role: "user", content: q }] },
        response: {
          id: `chatcmpl-flr-${i}`,
          object: "chat.completion",
          model: "gpt-4.1-nano",
          choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
        },
      }));
      assert.equal((await s.api("/api/calls", { body: calls })).status, 201);
      const created = await s.api<Body>("/api/evals", {
        body: {
          callIds: calls.map((c) => c.id),
          candidate: { model: "gpt-4.1-mini" },
          checks: ["moderation", { type: "floor", model: "fake-judge", flags: ["violence"] }],
        },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.id as string;
      const report = await evalWhenDone<Body>(s, id);
      const byName = Object.fromEntries((report.report.checks as Body[]).map((c) => [c.name, c]));
      // The fake echoes the question: the second answer holds the marker, so both checkers flag it.
      assert.equal(byName.moderation?.passed, 1);
      assert.equal(byName.floor?.passed, 1);
      const rows = await s.ctx.store.db
        .selectFrom("annotations")
        .select(["key", "numericReward", "source", "data"])
        .where("name", "=", "floor")
        .execute();
      assert.equal(rows.length, 4);
      const flagged = rows.filter((r) => r.numericReward === 0);
      assert.equal(flagged.length, 2);
      assert.deepEqual(flagged.map((r) => r.source).sort(), ["code", "judge"]);
      for (const r of flagged) {
        const data = JSON.parse(r.data ?? "{}");
        assert.deepEqual(data.flags, ["violence"]);
        assert.match(data.excerpts.violence, /\[\[FLAG:violence]]/);
      }
    });

    it("should run floor checks in a live evaluator and list its flagged calls on the floor view", {
      skip,
    }, async () => {
      const created = await s.api<Body>("/api/evaluators", {
        body: {
          name: "floor-live",
          checks: ["moderation", { type: "floor", model: "fake-judge", flags: ["violence"] }],
        },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      for (const content of ["a calm question", "please [[FLAG:violence]] now"]) {
        const res = await fetch(`${s.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "gpt-4.1-mini", messages: [{ role: "user", content }] }),
        });
        assert.equal(res.status, 200);
        await res.text();
      }
      const listed = await eventually(async () => {
        const r = await s.api<Body>("/api/floor?flag=violence");
        const live = (r.body.data as Body[]).filter((d) => d.evaluator === "floor-live");
        return live.length === 2 ? live : undefined;
      });
      assert.deepEqual(listed.map((d) => d.checker).sort(), ["judge", "moderation"]);
      for (const d of listed) {
        assert.match(d.excerpts.violence, /\[\[FLAG:violence]]/);
        assert.match(d.call.previewInput ?? "", /FLAG:violence/);
      }
    });
  });
}
