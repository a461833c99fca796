/**
 * An evaluation end to end, on each dialect: baseline calls ingested with known answers, usage and timings;
 * a candidate replayed through the server's own proxy to the fake upstream; checks and the fake judge
 * (`fake-judge`, whose verdicts are a pure function of the prompt); the report compared with numbers
 * computed by hand below.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { costUsd } from "../calls/index.ts";
import { DIALECTS, evalWhenDone, eventually, fakeUpstreamSuite } from "../testing/index.ts";
import { wilson } from "./stats.ts";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type Body = Record<string, any>;

const T0 = Date.UTC(2025, 4, 1, 12);
const echoSchema = { type: "object", properties: { echo: { type: "string" } }, required: ["echo"] };
const titleSchema = { type: "object", properties: { title: { type: "string" } }, required: ["title"] };
const rf = (schema: object) => ({ type: "json_schema", json_schema: { name: "out", schema } });

/**
 * The baseline: question, logged answer, duration. Markers steer the fake judge: `[[SCORE:n]]` in an answer
 * is its absolute score (3 without), `[[GOOD]]` in exactly one of two answers wins the comparison.
 */
const ITEMS = [
  { q: "[[GOOD]] [[SCORE:5]] alpha", a: '{"title":"Alpha [[SCORE:2]]"}', ms: 100, schema: echoSchema },
  { q: "[[SCORE:4]] beta [[GOOD]]", a: "Beta [[SCORE:4]]", ms: 200 },
  { q: "[[SCORE:1]] gamma", a: "[[GOOD]] Gamma [[SCORE:5]]", ms: 300 },
  { q: "delta", a: "Delta", ms: 400 },
  { q: "epsilon", a: '{"title":"Epsilon [[SCORE:4]]"}', ms: 1000, schema: titleSchema },
];
const SYSTEM = "Answer briefly.";

/** What the fake upstream answers for the candidate: `echo: <question>`, or `{"echo": ...}` for a schema. */
const candidateAnswer = (i: number) => {
  const it = ITEMS[i] as (typeof ITEMS)[number];
  return it.schema ? JSON.stringify({ echo: it.q }) : `echo: ${it.q}`;
};
/** The fake's usage: prompt = length of the messages' JSON / 4, completion = answer length / 4 (floored). */
const candidateCost = (i: number) => {
  const messages = [
    { role: "system", content: SYSTEM },
    { role: "user", content: ITEMS[i]?.q },
  ];
  return costUsd("gpt-4.1-mini", {
    promptTokens: JSON.stringify(messages).length >> 2,
    completionTokens: Math.max(1, candidateAnswer(i).length >> 2),
    cachedTokens: 0,
  }) as number;
};

const close = (actual: number | null | undefined, expected: number, tol = 1e-6) =>
  assert.ok(
    typeof actual === "number" && Math.abs(actual - expected) <= tol,
    `${actual} is not within ${tol} of ${expected}`,
  );

for (const dialect of DIALECTS) {
  describe(`evaluations end to end (${dialect})`, async () => {
    const suite = await fakeUpstreamSuite(dialect);
    const { skip } = suite;

    before(async () => {
      if (skip) return;
      const calls = ITEMS.map((it, i) => ({
        id: `base-${i}`,
        startedAt: T0 + i * 1000,
        endedAt: T0 + i * 1000 + it.ms,
        upstream: "default",
        request: {
          model: "gpt-4.1-nano",
          messages: [{ role: "user", content: it.q }],
          ...(it.schema ? { response_format: rf(it.schema) } : {}),
        },
        response: {
          id: `chatcmpl-base-${i}`,
          object: "chat.completion",
          model: "gpt-4.1-nano",
          choices: [{ index: 0, message: { role: "assistant", content: it.a }, finish_reason: "stop" }],
          // Baseline cost at gpt-4.1-nano prices ($0.1 / $0.4 per M): 140 (i + 1) micro-dollars.
          usage: {
            prompt_tokens: 1000 * (i + 1),
            completion_tokens: 100 * (i + 1),
            total_tokens: 1100 * (i + 1),
          },
        },
      }));
      assert.equal((await suite.s.api("/api/calls", { body: calls })).status, 201);
      const annotations = [
        // Human verdicts under the absolute judge's name, for the agreement rate.
        { annotationKey: "base-0", name: "quality", numericReward: 0, source: "human" },
        { annotationKey: "base-1", name: "quality", numericReward: 1, source: "human" },
        { annotationKey: "base-2", name: "quality", numericReward: 0, source: "human" },
        { annotationKey: "base-4", name: "quality", numericReward: 1, source: "user" },
        // Corrections: the reference of equals/contains.
        {
          annotationKey: "chatcmpl-base-2",
          name: "reward",
          correction: "echo: [[SCORE:1]] gamma",
          source: "human",
        },
        {
          annotationKey: "base-3",
          name: "reward",
          correction: { role: "assistant", content: "delta" },
          source: "human",
        },
      ];
      assert.equal((await suite.s.api("/api/annotations", { body: annotations })).status, 201);
    });

    it("should replay the calls through the proxy, judge them, and report numbers that match the hand count", {
      skip,
    }, async () => {
      const created = await suite.s.api<Body>("/api/evals", {
        body: {
          callIds: ITEMS.map((_, i) => `base-${i}`),
          candidate: { model: "gpt-4.1-mini", systemPrompt: SYSTEM, params: { temperature: 0.2 } },
          checks: [
            "json-schema",
            "regex:^echo:",
            "equals",
            "contains",
            "tokens.completion <= 5",
            "cost <= 0.01",
            { type: "judge", mode: "absolute", model: "fake-judge", name: "quality" },
          ],
          judge: { model: "fake-judge", mode: "pairwise" },
          concurrency: 3,
          seed: 7,
        },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.id as string;
      assert.match(id, /^evl_/);
      // Estimate: baseline tokens at gpt-4.1-mini prices; fake-judge has no price, so no total.
      assert.equal(created.body.estimate.items, 5);
      assert.equal(created.body.estimate.totalUsd, null);
      assert.deepEqual(created.body.estimate.unpricedModels, ["fake-judge"]);
      assert.ok(created.body.estimate.candidateUsd > 0);

      const state = await evalWhenDone<Body>(suite.s, id);
      assert.deepEqual(state.progress, { total: 5, done: 5, failed: 0, pending: 0, running: 0 });
      const { report } = state;
      assert.deepEqual(report.items, { total: 5, done: 5, failed: 0 });

      const check = (name: string) => report.checks.find((c: Body) => c.name === name);
      // Candidate answers: 0 '{"echo":…}' (schema ok), 1–3 'echo: …', 4 '{"echo":"epsilon"}' (lacks title).
      const expected: Record<string, [number, number, number]> = {
        "json-schema": [1, 1, 3],
        "regex:^echo:": [3, 2, 0],
        // Corrections exist for items 2 ("echo: [[SCORE:1]] gamma": equal) and 3 ("delta": contained only).
        equals: [1, 1, 3],
        contains: [2, 0, 3],
        // Completion tokens = answer length / 4: 37→9, 31→7, 23→5, 11→2, 18→4.
        "tokens.completion <= 5": [3, 2, 0],
        "cost <= 0.01": [5, 0, 0],
        // Judge scores 5, 4, 1, 3, 3: passes at 3 or more (reward (s − 1) / 4 >= 0.5).
        quality: [4, 1, 0],
      };
      for (const [name, [passed, failed, skipped]] of Object.entries(expected)) {
        const c = check(name);
        assert.deepEqual([c.passed, c.failed, c.skipped, c.errors], [passed, failed, skipped, 0], name);
        assert.deepEqual(
          c.passRate,
          { rate: passed / (passed + failed), ci: wilson(passed, passed + failed) },
          name,
        );
      }
      close(check("quality").meanScore, 3.2);

      const [quality, pairwise] = report.judges as Body[];
      assert.equal(quality?.name, "quality");
      assert.equal(quality?.candidate.mean, 3.2);
      close(quality?.candidate.ci[0], 1.3583, 5e-5);
      close(quality?.candidate.ci[1], 5.0417, 5e-5);
      // Baseline answers' markers: 2, 4, 5, 3 (none), 4.
      close(quality?.baseline.mean, 3.6);
      close(quality?.difference.mean, -0.4);
      // Judge on the baselines (fail, pass, pass, –, pass) vs humans (0, 1, 0, –, 1): 3 of 4 agree.
      assert.deepEqual(quality?.agreement, {
        n: 4,
        agree: 3,
        rate: { rate: 0.75, ci: wilson(3, 4) },
        kappa: 0.5,
      });
      // [[GOOD]] only in the candidate for items 0 and 1, only in the baseline for 2, in neither for 3 and 4.
      assert.equal(pairwise?.mode, "pairwise");
      assert.deepEqual(
        [pairwise?.n, pairwise?.wins, pairwise?.ties, pairwise?.losses, pairwise?.errors],
        [5, 2, 2, 1, 0],
      );
      assert.deepEqual(pairwise?.win, { rate: 0.4, ci: wilson(2, 5) });
      close(pairwise?.win.ci?.[0], 0.1176, 5e-5);
      close(pairwise?.win.ci?.[1], 0.7693, 5e-5);
      assert.deepEqual(pairwise?.loss, { rate: 0.2, ci: wilson(1, 5) });
      close(pairwise?.score, 0.6);

      // Baseline cost 140·(i+1) µ$: mean 420, p50 420, p95 560 + 0.8·140 = 672 µ$.
      close(report.cost.baseline.mean, 0.00042, 1e-12);
      close(report.cost.baseline.p50, 0.00042, 1e-12);
      close(report.cost.baseline.p95, 0.000672, 1e-12);
      close(report.cost.baseline.total, 0.0021, 1e-12);
      const candidateCosts = ITEMS.map((_, i) => candidateCost(i));
      close(
        report.cost.candidate.total,
        candidateCosts.reduce((a, b) => a + b, 0),
        1e-12,
      );
      assert.equal(report.cost.judgeTotalUsd, null, "the fake judge's price is unknown, so the total is too");
      assert.deepEqual(
        [report.latency.baseline.mean, report.latency.baseline.p50, report.latency.baseline.n],
        [400, 300, 5],
      );
      close(report.latency.baseline.p95, 880, 1e-9);
      assert.equal(report.latency.candidate.n, 5);

      // Failed checks + losses: 2 for items 0, 2, 4 (lowest judge score first: 2, 4, 0), then 3, then 1.
      assert.deepEqual(
        report.worst.map((w: Body) => w.index),
        [2, 4, 0, 3, 1],
      );
      const worst = report.worst[0];
      assert.equal(worst.baselineUrl, "/calls/base-2");
      assert.equal(worst.candidateUrl, `/calls/${worst.candidateCallId}`);
      assert.deepEqual(
        worst.pairwise.map((p: Body) => p.outcome),
        ["loss"],
      );
      assert.deepEqual(
        worst.failedChecks.map((f: Body) => f.name),
        ["quality"],
      );

      const run = state.run;
      close(
        run.costUsd,
        candidateCosts.reduce((a, b) => a + b, 0),
        1e-9,
      );
      assert.deepEqual([run.done, run.failed, run.total], [5, 0, 5]);

      // The candidate requests the fake upstream saw: model, system prompt and parameters, never streamed.
      const sent = suite.fake.requests
        .map((r) => JSON.parse(r.body) as Body)
        .filter((b) => b.model === "gpt-4.1-mini");
      assert.equal(sent.length, 5);
      for (const b of sent) {
        assert.equal(b.temperature, 0.2);
        assert.deepEqual(b.messages[0], { role: "system", content: SYSTEM });
        assert.equal(b.stream, undefined);
      }

      // Every replayed call is logged, tagged with the run, with the item in its metadata.
      const logged = await eventually(async () => {
        const r = await suite.s.api<Body>(`/api/calls?tag=${encodeURIComponent(`eval:${id}`)}&limit=100`);
        return r.body.data?.length === 5 ? r.body.data : undefined;
      });
      assert.deepEqual(logged.map((c: Body) => c.metadata.evalItem).sort(), [0, 1, 2, 3, 4]);
      assert.ok(logged.every((c: Body) => c.metadata.evalRun === id && c.requestedModel === "gpt-4.1-mini"));
      const judgeCalls = await eventually(async () => {
        const r = await suite.s.api<Body>(
          `/api/calls?tag=${encodeURIComponent(`eval-judge:${id}`)}&limit=100`,
        );
        return r.body.data?.length === 15 ? r.body.data : undefined;
      });
      assert.ok(judgeCalls.every((c: Body) => c.requestedModel === "fake-judge"));

      // Judge verdicts are annotations with source "judge", beside the humans'.
      const base2 = await suite.s.api<Body>("/api/calls/base-2");
      const judged = base2.body.annotations.filter((a: Body) => a.source === "judge");
      assert.equal(judged.length, 1);
      assert.deepEqual(
        [judged[0].name, judged[0].numericReward, judged[0].annotatorId, judged[0].content.score],
        ["quality", 1, "fake-judge", 5],
      );
      const cand2 = await suite.s.api<Body>(`/api/calls/${worst.candidateCallId}`);
      const verdicts = cand2.body.annotations.filter((a: Body) => a.source === "judge");
      assert.deepEqual(verdicts.map((a: Body) => [a.name, a.numericReward]).sort(), [
        ["pairwise", 0],
        ["quality", 0],
      ]);
      assert.equal(verdicts.find((a: Body) => a.name === "pairwise").content.against, "base-2");

      const list = await suite.s.api<Body>("/api/evals");
      assert.ok(list.body.data.some((r: Body) => r.id === id && r.status === "done"));
      const items = await suite.s.api<Body>(`/api/evals/${id}/items?limit=2`);
      assert.deepEqual(
        items.body.data.map((x: Body) => x.index),
        [0, 1],
      );
      assert.equal(items.body.nextOffset, 2);
      assert.equal((await suite.s.api(`/api/evals/${id}/cancel`, { method: "POST" })).status, 409);
    });

    it("should stop claiming items when cancelled and finish each item exactly once when resumed", {
      skip,
    }, async () => {
      const created = await suite.s.api<Body>("/api/evals", {
        body: {
          callIds: ITEMS.map((_, i) => `base-${i}`),
          candidate: { model: "slow-model", headers: { "x-fake-delay-ms": "250" } },
          checks: ["regex:^echo:"],
          concurrency: 1,
        },
      });
      assert.equal(created.status, 201);
      const id = created.body.id as string;
      await eventually(
        async () => (await suite.s.api<Body>(`/api/evals/${id}`)).body.progress.done >= 1,
        10_000,
      );
      const cancelled = await suite.s.api<Body>(`/api/evals/${id}/cancel`, { method: "POST" });
      assert.equal(cancelled.body.run?.status, "cancelled", JSON.stringify(cancelled.body));
      // The item in flight is handed back; nothing else is claimed.
      const stopped = await eventually(async () => {
        const p = (await suite.s.api<Body>(`/api/evals/${id}`)).body.progress;
        return p.running === 0 ? p : undefined;
      });
      assert.ok(stopped.pending >= 1 && stopped.done < 5, JSON.stringify(stopped));
      const resumed = await suite.s.api<Body>(`/api/evals/${id}/resume`, { method: "POST" });
      assert.equal(resumed.status, 200);
      const state = await evalWhenDone<Body>(suite.s, id, 15_000, "the resumed run to finish");
      assert.deepEqual(state.progress, { total: 5, done: 5, failed: 0, pending: 0, running: 0 });
      assert.equal(state.report.checks[0].passed, 3);
      const rows = await suite.s.ctx.store.db
        .selectFrom("evalCheckResults")
        .select(["itemIndex"])
        .where("runId", "=", id)
        .execute();
      assert.deepEqual(rows.map((r) => r.itemIndex).sort(), [0, 1, 2, 3, 4]);
      // Headers in the candidate reach the upstream (here, the fake's delay).
      assert.ok(suite.fake.requests.some((r) => r.headers["x-fake-delay-ms"] === "250"));
      // A run stored before the edge refused credential-like headers never shows such a value again.
      const stored = {
        model: "slow-model",
        headers: { "x-fake-delay-ms": "250", "x-goog-api-key": "AIza-secret" },
      };
      await suite.s.ctx.store.db
        .updateTable("evalRuns")
        .set({ candidate: JSON.stringify(stored) })
        .where("id", "=", id)
        .execute();
      const shown = await suite.s.api<Body>(`/api/evals/${id}`);
      assert.equal(shown.status, 200);
      assert.deepEqual(shown.body.run.candidate.headers, {
        "x-fake-delay-ms": "250",
        "x-goog-api-key": "[hidden: looks like a credential]",
      });
      assert.ok(!JSON.stringify(shown.body).includes("AIza-secret"));
    });

    it("should evaluate a saved dataset and keep the snapshot of the calls it used", { skip }, async () => {
      const ds = await suite.s.api<Body>("/api/datasets", {
        body: { name: "nano-titles", filter: { model: ["gpt-4.1-nano"] } },
      });
      assert.equal(ds.status, 201, JSON.stringify(ds.body));
      const estimate = await suite.s.api<Body>("/api/evals", {
        body: { dataset: "nano-titles", candidate: { model: "gpt-4.1-mini" }, dryRun: true },
      });
      assert.equal(estimate.status, 200, JSON.stringify(estimate.body));
      const untouched = await suite.s.api<Body>("/api/datasets/nano-titles/snapshots");
      assert.equal(untouched.body.data.length, 0, "an estimate records no snapshot");
      const created = await suite.s.api<Body>("/api/evals", {
        body: { dataset: "nano-titles", candidate: { model: "gpt-4.1-mini" }, checks: ["regex:^echo:"] },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.run.dataset, "nano-titles");
      assert.ok(created.body.run.snapshotId);
      const state = await evalWhenDone<Body>(suite.s, created.body.id, 15_000);
      assert.equal(state.run.total, 5);
      const items = await suite.s.api<Body>(`/api/evals/${created.body.id}/items`);
      assert.deepEqual(
        items.body.data.map((x: Body) => x.baselineCallId).sort(),
        ITEMS.map((_, i) => `base-${i}`),
      );
      const snapshot = await suite.s.api<Body>(`/api/snapshots/${created.body.run.snapshotId}`);
      assert.equal(snapshot.status, 200);
      const snapshots = await suite.s.api<Body>("/api/datasets/nano-titles/snapshots");
      assert.equal(snapshots.body.data.length, 1, "the run recorded exactly one");
      const missing = await suite.s.api<Body>("/api/evals", { body: { dataset: "no-such-dataset" } });
      assert.equal(missing.status, 404);
    });

    it("should answer bad input with a 400 naming the field", { skip }, async () => {
      const bad = async (body: unknown, field: string) => {
        const r = await suite.s.api<Body>("/api/evals", { body });
        assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error.field, field, JSON.stringify(r.body));
      };
      const ok = { callIds: ["base-0"] };
      await bad({}, "dataset");
      await bad({ ...ok, dataset: "titles" }, "dataset");
      await bad({ ...ok, concurrency: 0 }, "concurrency");
      await bad({ ...ok, candidate: { model: "" } }, "candidate.model");
      await bad({ ...ok, candidate: { upstream: "nowhere" } }, "candidate.upstream");
      await bad({ ...ok, candidate: { params: { stream: true } } }, "candidate.params.stream");
      await bad(
        { ...ok, candidate: { headers: { Authorization: "Bearer sk-x" } } },
        "candidate.headers.Authorization",
      );
      await bad({ ...ok, checks: ["json-schema", { type: "regex", pattern: "(" }] }, "checks[1].pattern");
      await bad({ ...ok, checks: ["nonsense"] }, "checks[0]");
      await bad({ ...ok, judge: { model: "j", mode: "best-of" } }, "judge.mode");
      await bad({ ...ok, judge: { model: "j", mode: "pairwise", upstream: "nowhere" } }, "judge.upstream");
      await bad(
        {
          ...ok,
          checks: [{ type: "judge", mode: "pairwise", model: "j" }],
          judge: { model: "j", mode: "pairwise" },
        },
        "judge.name",
      );
      await bad({ callIds: ["base-0", "no-such-call"] }, "callIds[1]");
      await bad({ ...ok, candidate: { model: "gpt-4.1" }, maxCostUsd: 0 }, "maxCostUsd");
      await bad({ ...ok, extra: 1 }, "body");
      const notFound = await suite.s.api<Body>("/api/evals/evl_nope");
      assert.equal(notFound.status, 404);
      const badJson = await suite.s.api<Body>("/api/evals", { body: "{" });
      assert.equal(badJson.status, 400);
      const dry = await suite.s.api<Body>("/api/evals", {
        body: { ...ok, candidate: { model: "gpt-4.1" }, dryRun: true },
      });
      assert.equal(dry.status, 200);
      assert.equal(dry.body.id, null);
      // 1000 prompt + 100 completion tokens at gpt-4.1 ($2 / $8 per M).
      close(dry.body.estimate.totalUsd, 0.0028, 1e-12);
    });
  });
}
