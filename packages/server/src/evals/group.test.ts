/**
 * Several candidates in one evaluation, end to end on each dialect: three candidates over the fake upstream,
 * whose answers differ by the system prompt's marker (`[[GOOD]]` appended: the fake judge prefers it; `[[BAD]]`
 * appended: no longer the logged answer), priced by their models; the group's report ranks them as those
 * behaviours imply and names the best. Bad `candidates` input is a 400 naming the field.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { DIALECTS, eventually, fakeUpstreamSuite } from "../testing/index.ts";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type Body = Record<string, any>;

const T0 = Date.UTC(2025, 4, 1, 12);
const QUESTIONS = ["alpha", "beta", "gamma", "delta", "epsilon"];

/** The current setup (no change), a cheap model that answers worse, a strong one that answers better. */
const CANDIDATES = [
  { name: "current" },
  { name: "cheap", model: "gpt-4.1-nano", systemPrompt: "[[BAD]]" },
  { name: "strong", model: "gpt-4.1", systemPrompt: "[[GOOD]]" },
];

for (const dialect of DIALECTS) {
  describe(`an evaluation of several candidates (${dialect})`, async () => {
    const suite = await fakeUpstreamSuite(dialect);
    const { skip } = suite;
    const callIds = QUESTIONS.map((_, i) => `grp-${i}`);

    before(async () => {
      if (skip) return;
      // The logged answers are what the fake answers unchanged: `echo: <question>`.
      const calls = QUESTIONS.map((q, i) => ({
        id: `grp-${i}`,
        startedAt: T0 + i * 1000,
        endedAt: T0 + i * 1000 + 100,
        upstream: "default",
        request: { model: "gpt-4.1-mini", messages: [{ role: "user", content: q }] },
        response: {
          id: `chatcmpl-grp-${i}`,
          object: "chat.completion",
          model: "gpt-4.1-mini",
          choices: [
            { index: 0, message: { role: "assistant", content: `echo: ${q}` }, finish_reason: "stop" },
          ],
          usage: { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 },
        },
      }));
      assert.equal((await suite.s.api("/api/calls", { body: calls })).status, 201);
    });

    const body = (extra: object = {}) => ({
      callIds,
      candidates: CANDIDATES,
      checks: ["equals:baseline"],
      judge: { model: "fake-judge", mode: "pairwise" },
      seed: 3,
      ...extra,
    });

    it("should rank the candidates as their answers imply, against the baseline and each other", {
      skip,
    }, async () => {
      const dry = await suite.s.api<Body>("/api/evals", { body: body({ dryRun: true }) });
      assert.equal(dry.status, 200, JSON.stringify(dry.body));
      assert.equal(dry.body.group, null);
      assert.deepEqual(
        dry.body.candidates.map((c: Body) => c.name),
        ["current", "cheap", "strong"],
      );
      // The estimate covers all three: 15 items, and the parts add up to the whole (fake-judge is unpriced).
      assert.equal(dry.body.estimate.items, 15);
      assert.equal(dry.body.estimate.totalUsd, null);
      const known = dry.body.candidates.reduce((t: number, c: Body) => t + c.estimate.knownUsd, 0);
      assert.ok(Math.abs(dry.body.estimate.knownUsd - known) < 1e-8);

      const created = await suite.s.api<Body>("/api/evals", { body: body() });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const group = created.body.group as string;
      assert.match(group, /^evg_/);
      assert.equal(created.body.runs.length, 3);
      for (const [i, run] of (created.body.runs as Body[]).entries()) {
        assert.equal(run.group, group);
        assert.equal(run.candidateName, CANDIDATES[i]?.name);
        assert.equal(run.total, 5);
      }

      const report = await eventually(
        async () => {
          const r = await suite.s.api<Body>(`/api/evals/groups/${group}`);
          assert.equal(r.status, 200, JSON.stringify(r.body));
          return r.body.status === "done" ? r.body : undefined;
        },
        30_000,
        "the group to finish",
      );
      assert.deepEqual(report.items, { total: 5, common: 5 });
      assert.equal(report.ranking.metric, "judge:pairwise");
      const by = (name: string) => report.candidates.find((c: Body) => c.name === name);
      // strong's [[GOOD]] wins every comparison with the baseline; the others tie with it.
      assert.equal(by("strong").score.mean, 1);
      assert.equal(by("current").score.mean, 0.5);
      assert.equal(by("cheap").score.mean, 0.5);
      assert.equal(by("strong").report.judges[0].wins, 5);
      // Only the unchanged setup repeats the logged answer.
      assert.equal(by("current").checks[0].passRate.rate, 1);
      assert.equal(by("cheap").checks[0].passRate.rate, 0);
      assert.equal(by("strong").checks[0].passRate.rate, 0);
      // current and cheap tie on the judge; current passes more checks, so it ranks second; prices order cost.
      assert.deepEqual(
        [...report.candidates].sort((a: Body, b: Body) => a.rank - b.rank).map((c: Body) => c.name),
        ["strong", "current", "cheap"],
      );
      assert.ok(by("strong").cost.mean > by("current").cost.mean);
      assert.ok(by("current").cost.mean > by("cheap").cost.mean);

      assert.equal(report.best.name, "strong");
      assert.equal(report.best.clear, true);
      assert.match(report.best.line, /^best: strong/);

      // Three pairs, ordered by rank; strong − cheap on the judge is +0.5 on every item; current − cheap on the
      // baseline-equality check is +1 on every item.
      assert.equal(report.comparisons.length, 3);
      const pair = (a: string, b: string) =>
        report.comparisons.find((c: Body) => c.a === a && c.b === b) as Body;
      const diff = (p: Body, metric: string) => p.differences.find((d: Body) => d.metric === metric);
      assert.deepEqual(diff(pair("strong", "cheap"), "judge:pairwise"), {
        metric: "judge:pairwise",
        n: 5,
        mean: 0.5,
        ci: [0.5, 0.5],
      });
      assert.deepEqual(diff(pair("current", "cheap"), "check:equals:baseline"), {
        metric: "check:equals:baseline",
        n: 5,
        mean: 1,
        ci: [1, 1],
      });
      assert.ok(diff(pair("strong", "current"), "cost").mean > 0);
    });

    it("should name the best only when it leads beyond the interval", { skip }, async () => {
      // Two candidates that answer alike: neither is ahead.
      const created = await suite.s.api<Body>("/api/evals", {
        body: body({
          candidates: [
            { name: "a", model: "gpt-4.1-mini" },
            { name: "b", model: "gpt-4.1-mini" },
          ],
        }),
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const report = await eventually(
        async () => {
          const r = await suite.s.api<Body>(`/api/evals/groups/${created.body.group}`);
          return r.body.status === "done" ? r.body : undefined;
        },
        30_000,
        "the group to finish",
      );
      assert.equal(report.best.name, null);
      assert.equal(report.best.clear, false);
      assert.match(report.best.line, /^no clear best yet/);
    });

    it("should refuse bad candidates with a 400 naming the field", { skip }, async () => {
      const cases: Array<[object, string]> = [
        [{ candidates: [{ name: "x" }, { name: "x" }] }, "candidates[1].name"],
        [{ candidates: [{ name: "x" }, { model: "m" }] }, "candidates[1].name"],
        [{ candidates: [{ name: "x" }] }, "candidates"],
        [{ candidates: [{ name: "x" }, { name: "y", upstream: "nowhere" }] }, "candidates[1].upstream"],
        [{ candidates: [{ name: "x" }, { name: "y", temperature: 1 }] }, "candidates[1]"],
        [{ candidate: { model: "m" } }, "candidates"],
      ];
      for (const [extra, field] of cases) {
        const r = await suite.s.api<Body>("/api/evals", { body: body(extra) });
        assert.equal(r.status, 400, JSON.stringify(extra));
        assert.equal(r.body.error.field, field, `${JSON.stringify(extra)}: ${r.body.error.message}`);
      }
      assert.equal((await suite.s.api<Body>("/api/evals/groups/evg_missing")).status, 404);
    });
  });
}
