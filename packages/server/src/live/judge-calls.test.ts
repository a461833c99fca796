/**
 * The calls that evaluation machinery makes itself, against a live evaluator that takes every call: judges'
 * calls (evaluations', experiments', live evaluators', floor judges' under those tags) and a conversation
 * evaluation's regenerations and judge calls are never enqueued, while an ordinary call through the proxy is;
 * and a floor judge's calls count toward the rule's daily cost cap like its judge's. On each dialect, through
 * the socket (the proxy and the conversation runner are the server's).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  createEvaluator,
  DIALECTS,
  evaluatorSettled,
  eventually,
  fakeUpstreamSuite,
  type TestServer,
} from "../testing/index.ts";

/** A chat call through the proxy with the given tags; answers the id it was stored under. */
async function proxied(s: TestServer, tags: string, text: string): Promise<string> {
  const res = await fetch(`${s.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(tags ? { "x-intersebd-tags": tags } : {}) },
    body: JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: text }] }),
  });
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  const id = res.headers.get("x-intersebd-call-id");
  assert.ok(id);
  return id;
}

const T0 = Date.UTC(2025, 4, 1, 12);
const TURNS = Array.from({ length: 6 }, (_, k) => ({
  role: k % 2 === 0 ? "user" : "assistant",
  content: k % 2 === 0 ? `question ${k / 2 + 1}` : `answer ${(k + 1) / 2}`,
}));

/** A session of three exchanges, as a chat client logs it. */
function sessionCalls(sessionId: string) {
  return Array.from({ length: 3 }, (_, i) => ({
    id: `${sessionId}-call-${i + 1}`,
    sessionId,
    startedAt: T0 + i * 1000,
    endedAt: T0 + i * 1000 + 100,
    upstream: "default",
    request: { model: "gpt-4.1-mini", messages: TURNS.slice(0, 2 * i + 1) },
    response: {
      id: `chatcmpl-${sessionId}-${i}`,
      object: "chat.completion",
      model: "gpt-4.1-mini",
      choices: [{ index: 0, message: TURNS[2 * i + 1], finish_reason: "stop" }],
    },
  }));
}

for (const dialect of DIALECTS) {
  describe(`live evaluators and the calls evaluations make (${dialect})`, async () => {
    const suite = await fakeUpstreamSuite(dialect, { fake: { keepRequests: false } });
    const { server } = suite;

    /** The calls holding a tag that starts with `prefix`, and how many of them have a job of `evaluatorId`. */
    async function jobsFor(prefix: string, evaluatorId: string) {
      const calls = await suite.s.ctx.store.db
        .selectFrom("callTags")
        .select("callId")
        .where("tag", "like", `${prefix}%`)
        .execute();
      const ids = [...new Set(calls.map((c) => c.callId))];
      const jobs = ids.length
        ? await suite.s.ctx.store.db
            .selectFrom("liveJobs")
            .select("callId")
            .where("evaluatorId", "=", evaluatorId)
            .where("callId", "in", ids)
            .execute()
        : [];
      return { calls: ids.length, jobs: jobs.length };
    }

    it("never enqueues judges' calls nor a conversation evaluation's regenerations and judge calls", async (t) => {
      const s = server(t);
      if (!s) return;
      const all = await createEvaluator(s, { name: "everything", filter: {}, checks: ["regex:."] });

      // An ordinary call is taken: the rule matches everything else.
      const plain = await proxied(s, "", "hello");
      for (const tag of ["eval-judge:evl_1", "exp-judge:titles", "live-judge:lev_1", "conversation-eval:c1"])
        await proxied(s, tag, `judged by ${tag}`);

      const ingested = await s.api("/api/calls", { body: sessionCalls("bob") });
      assert.equal(ingested.status, 201, JSON.stringify(ingested.body));
      const created = await s.api<{ id: string }>("/api/conversations/evals", {
        body: {
          sessions: ["bob"],
          candidates: [{ name: "plain" }],
          contextLengths: [null],
          sliceLength: 6,
          stride: 4,
          judge: { model: "fake-judge" },
        },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      await eventually(
        async () =>
          (await s.api<{ status: string }>(`/api/conversations/evals/${created.body.id}`)).body.status ===
          "done",
        20_000,
        "the conversation evaluation to finish",
      );
      // Every call above, the session's included, has been through the insert hook once the rule settles.
      await eventually(
        async () =>
          (await jobsFor(`conversation-eval:${created.body.id}`, all.id)).calls >= 2 &&
          (await s.ctx.store.db.selectFrom("calls").select("id").where("id", "=", plain).executeTakeFirst()),
      );
      await evaluatorSettled(s, all.id, 4);

      const jobs = await s.ctx.store.db
        .selectFrom("liveJobs")
        .select("callId")
        .where("evaluatorId", "=", all.id)
        .execute();
      assert.ok(
        jobs.some((j) => j.callId === plain),
        "an ordinary call through the proxy is evaluated",
      );
      assert.equal(jobs.filter((j) => j.callId.startsWith("bob-call-")).length, 3, "the session's calls are");
      // One regeneration and one judge call per criterion (three by default).
      assert.deepEqual(await jobsFor(`conversation-eval:${created.body.id}`, all.id), { calls: 4, jobs: 0 });
      for (const prefix of ["eval-judge:", "exp-judge:", "live-judge:", "conversation-eval:c1"])
        assert.equal((await jobsFor(prefix, all.id)).jobs, 0, `${prefix} calls are never evaluated`);
      // The rule's own judge-less check made no calls, so nothing it did came back to it either.
      assert.equal(jobs.length, 4);
      await s.api(`/api/evaluators/${all.id}`, { body: { enabled: false } });
    });

    it("counts a floor judge's calls toward the daily cost cap", async (t) => {
      const s = server(t);
      if (!s) return;
      // gpt-4o is priced; the fake upstream answers it with an echo (no verdict), which costs all the same.
      const floored = await createEvaluator(s, {
        name: "floor-capped",
        filter: { tags: ["floor-capped"] },
        checks: [{ type: "floor", name: "floor", model: "gpt-4o" }],
        concurrency: 1,
        dailyCostUsd: 0.0004,
      });
      for (let i = 0; i < 12; i++) await proxied(s, "floor-capped", `question ${i}`);
      const c = await evaluatorSettled(s, floored.id, 12);
      assert.equal(c.done + c.skippedByCap + c.failed, 12, JSON.stringify(c));
      assert.ok(c.done >= 1, JSON.stringify(c));
      assert.ok(c.skippedByCap >= 1, `the cap stopped the rest: ${JSON.stringify(c)}`);
      const perJob = c.costTodayUsd / c.done;
      assert.ok(perJob > 0, "a floor judge's call is priced");
      // Concurrency 1: the cap is passed by at most the one job in flight when it was reached.
      assert.ok(c.costTodayUsd < 0.0004 + perJob + 1e-12, `${c.costTodayUsd} spent`);
      await s.api(`/api/evaluators/${floored.id}`, { body: { enabled: false } });
    });
  });
}
