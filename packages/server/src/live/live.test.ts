import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  createEvaluator,
  DIALECTS,
  evaluatorSettled,
  eventually,
  fakeUpstreamSuite,
  freshDatabase,
  postgresAvailable,
  startFakeUpstream,
  startTestServer,
  type TestServer,
} from "../testing/index.ts";
import { matches, sampled } from "./enqueue.ts";
import type { EvaluatorView } from "./schemas.ts";
import { LiveWorker } from "./worker.ts";

type ErrorBody = { error: { message: string; field: string | null } };

/** A chat call as the SDK would send it to `POST /api/calls`. */
function call(
  id: string,
  opts: {
    model?: string;
    text?: string;
    tags?: string[];
    startedAt?: number;
    metadata?: Record<string, unknown>;
  } = {},
) {
  return {
    id,
    ...(opts.startedAt === undefined ? {} : { startedAt: opts.startedAt }),
    request: { model: opts.model ?? "gpt-4o-mini", messages: [{ role: "user", content: `question ${id}` }] },
    response: {
      id: `chatcmpl-${id}`,
      object: "chat.completion",
      model: opts.model ?? "gpt-4o-mini",
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: opts.text ?? `answer ${id}` },
          finish_reason: "stop",
        },
      ],
    },
    tags: opts.tags ?? [],
    metadata: opts.metadata ?? {},
  };
}

async function ingest(s: TestServer, calls: unknown[]): Promise<void> {
  for (let i = 0; i < calls.length; i += 500) {
    const r = await s.api("/api/calls", { body: calls.slice(i, i + 500) });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
}

async function view(s: TestServer, id: string): Promise<EvaluatorView> {
  const r = await s.api<EvaluatorView>(`/api/evaluators/${id}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

const ids = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

describe("filter and sampling (pure)", () => {
  const base = {
    id: "c1",
    requestedModel: "gpt-4o",
    servedModel: "gpt-4o-2024-08-06",
    upstream: "default",
    tags: JSON.stringify(["team:a", "prod"]),
    metadata: JSON.stringify({ feature: "chat", tier: 2 }),
    experiment: "titles",
    variant: "b",
    source: "proxy",
  };
  it("matches on every given field, and never a judge's call", () => {
    assert.ok(matches({}, base));
    assert.ok(matches({ model: "gpt-4o" }, base));
    assert.ok(matches({ model: "gpt-4o-2024-08-06" }, base), "the served model matches too");
    assert.ok(!matches({ model: "gpt-4o-mini" }, base));
    assert.ok(!matches({ upstream: "other" }, base));
    assert.ok(matches({ tags: ["prod", "team:a"] }, base));
    assert.ok(!matches({ tags: ["prod", "team:b"] }, base), "every tag must be there");
    assert.ok(matches({ metadata: { feature: "chat", tier: 2 } }, base));
    assert.ok(!matches({ metadata: { tier: "2" } }, base), "values compare with their type");
    assert.ok(matches({ experiment: "titles", variant: "b" }, base));
    assert.ok(!matches({ variant: "a" }, base));
    assert.ok(!matches({ source: "sdk" }, base));
    assert.ok(!matches({}, { ...base, tags: JSON.stringify(["live-judge:lev_1"]) }));
    assert.ok(!matches({}, { ...base, tags: JSON.stringify(["eval-judge:run_1"]) }));
  });

  it("samples by the call id's hash: within its rate over 2,000 calls, the same calls every time", () => {
    const calls = ids(2000, "s");
    const taken = calls.filter((c) => sampled("lev_x", 0.3, c));
    // Binomial(2000, 0.3): sd 20.5; ±4 sd.
    assert.ok(taken.length > 600 - 82 && taken.length < 600 + 82, `${taken.length} of 2000`);
    assert.deepEqual(
      calls.filter((c) => sampled("lev_x", 0.3, c)),
      taken,
    );
    const other = calls.filter((c) => sampled("lev_y", 0.3, c));
    assert.notDeepEqual(other, taken, "each evaluator draws its own sample");
    assert.equal(calls.filter((c) => sampled("lev_x", 0, c)).length, 0);
    assert.equal(calls.filter((c) => sampled("lev_x", 1, c)).length, 2000);
  });
});

for (const dialect of DIALECTS) {
  describe(`live evaluators (${dialect})`, async () => {
    const suite = await fakeUpstreamSuite(dialect, { inProcess: true, fake: { keepRequests: false } });
    const { server } = suite;

    it("refuses bad input with a 400 naming the field", async (t) => {
      const s = server(t);
      if (!s) return;
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ name: "x", sample: 2, checks: ["json-schema"] }, "sample"],
        [
          { name: "x", checks: ["json-schema"], judge: { model: "fake-judge", mode: "pairwise" } },
          "judge.mode",
        ],
        [
          {
            name: "x",
            checks: ["json-schema"],
            judge: { model: "fake-judge", mode: "absolute", scale: [5, 1] },
          },
          "judge.scale",
        ],
        [{ name: "x", checks: ["not-a-check"] }, "checks[0]"],
        [{ name: "x" }, "checks"],
        [{ name: "x", checks: ["json-schema"], filter: { modell: "a" } }, "filter"],
        [{ name: "x", checks: ["json-schema"], concurrency: 0 }, "concurrency"],
        [{ name: "x", checks: ["json-schema"], dailyCostUsd: -1 }, "dailyCostUsd"],
        [
          { name: "x", judge: { model: "fake-judge", mode: "absolute", upstream: "nowhere" } },
          "judge.upstream",
        ],
        [{ checks: ["json-schema"] }, "name"],
      ];
      for (const [body, field] of cases) {
        const r: { status: number; body: ErrorBody } = await s.api<ErrorBody>("/api/evaluators", { body });
        assert.equal(r.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
        assert.ok(
          r.body.error.field?.startsWith(field),
          `${JSON.stringify(body)}: field ${r.body.error.field}, want ${field}`,
        );
      }
      const ok = await createEvaluator(s, { name: "valid", checks: ["json-schema"], enabled: false });
      const dup = await s.api<ErrorBody>("/api/evaluators", {
        body: { name: "valid", checks: ["json-schema"] },
      });
      assert.equal(dup.status, 409);
      const bad = await s.api<ErrorBody>(`/api/evaluators/${ok.id}/backfill`, { body: { from: 10, to: 5 } });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.field, "to");
      assert.equal((await s.api(`/api/evaluators/nope`)).status, 404);
    });

    it("evaluates new matching calls, sampled within the rate, once each, with results as annotations", async (t) => {
      const s = server(t);
      if (!s) return;
      const e = await createEvaluator(s, {
        name: "answers-say-answer",
        filter: { tags: ["sampled"] },
        sample: 0.25,
        checks: ["regex:^answer", { type: "regex", name: "says-nope", pattern: "nope" }],
      });
      const calls = ids(2000, `samp-${dialect}`);
      await ingest(s, [
        ...calls.map((id) => call(id, { tags: ["sampled"] })),
        ...ids(50, `unmatched-${dialect}`).map((id) => call(id)),
      ]);
      const expected = calls.filter((c) => sampled(e.id, 0.25, c));
      // Binomial(2000, 0.25): sd 19.4; ±4 sd.
      assert.ok(Math.abs(expected.length - 500) < 78, `${expected.length} sampled`);
      const c = await evaluatorSettled(s, e.id, expected.length, 60_000);
      assert.equal(c.done, expected.length);
      assert.equal(c.failed, 0);
      const one = expected[0] as string;
      const detail = await s.api<{
        annotations: Array<{
          name: string;
          numericReward: number;
          source: string;
          data: { evaluator: string };
        }>;
      }>(`/api/calls/${one}`);
      const byName = new Map(detail.body.annotations.map((a) => [a.name, a]));
      assert.equal(byName.get("check:regex:^answer")?.numericReward, 1);
      assert.equal(byName.get("check:says-nope")?.numericReward, 0);
      assert.equal(byName.get("check:says-nope")?.source, "code");
      assert.equal(byName.get("check:says-nope")?.data.evaluator, "answers-say-answer");
      const notSampled = calls.find((c) => !expected.includes(c)) as string;
      const none = await s.api<{ annotations: unknown[] }>(`/api/calls/${notSampled}`);
      assert.equal(none.body.annotations.length, 0);
      await s.api(`/api/evaluators/${e.id}`, { body: { enabled: false } });
    });

    it("backfills a time range once, and a paused evaluator enqueues nothing new", async (t) => {
      const s = server(t);
      if (!s) return;
      const e = await createEvaluator(s, {
        name: "backfilled",
        filter: { tags: ["old"] },
        checks: ["regex:answer"],
        enabled: false,
      });
      const t0 = Date.UTC(2024, 0, 1);
      const inRange = ids(30, `bf-in-${dialect}`);
      await ingest(s, [
        ...inRange.map((id, i) => call(id, { tags: ["old"], startedAt: t0 + i * 10 })),
        ...ids(10, `bf-out-${dialect}`).map((id, i) => call(id, { tags: ["old"], startedAt: t0 + 5000 + i })),
      ]);
      assert.equal((await view(s, e.id)).counters.queued, 0, "paused: no live jobs");
      const r = await s.api<{ scanned: number; enqueued: number }>(`/api/evaluators/${e.id}/backfill`, {
        body: { from: t0, to: t0 + 1000 },
      });
      assert.deepEqual(r.body, { scanned: 30, enqueued: 30 });
      const again = await s.api<{ enqueued: number }>(`/api/evaluators/${e.id}/backfill`, {
        body: { from: new Date(t0).toISOString(), to: t0 + 1000 },
      });
      assert.equal(again.body.enqueued, 0, "a call is never enqueued twice");
      assert.equal((await view(s, e.id)).counters.queued, 30, "paused: the jobs wait");
      await s.api(`/api/evaluators/${e.id}`, { body: { enabled: true } });
      const c = await evaluatorSettled(s, e.id, 30);
      assert.equal(c.done, 30);
      const outside = await s.api<{ annotations: unknown[] }>(`/api/calls/bf-out-${dialect}-0`);
      assert.equal(outside.body.annotations.length, 0);
      await s.api(`/api/evaluators/${e.id}`, { body: { enabled: false } });
    });

    it("a judge scores calls through the proxy; the daily cost cap stops the rest as skipped", async (t) => {
      const s = server(t);
      if (!s) return;
      // gpt-4o is priced: the fake upstream answers it (with no verdict), so each job costs its judge call.
      const priced = await createEvaluator(s, {
        name: "capped",
        filter: { tags: ["capped"] },
        judge: { model: "gpt-4o", mode: "absolute", name: "quality" },
        concurrency: 1,
        dailyCostUsd: 0.0004,
      });
      await ingest(
        s,
        ids(12, `cap-${dialect}`).map((id) => call(id, { tags: ["capped"] })),
      );
      const c = await evaluatorSettled(s, priced.id, 12);
      assert.ok(c.done >= 1, JSON.stringify(c));
      assert.ok(c.skippedByCap >= 1, JSON.stringify(c));
      assert.equal(c.done + c.skippedByCap + c.failed, 12);
      const perJob = c.costTodayUsd / c.done;
      assert.ok(perJob > 0);
      // Concurrency 1: the cap is passed by at most the one job in flight when it was reached.
      assert.ok(c.costTodayUsd < 0.0004 + perJob + 1e-12, `${c.costTodayUsd} spent`);
      await s.api(`/api/evaluators/${priced.id}`, { body: { enabled: false } });

      const judged = await createEvaluator(s, {
        name: "judged",
        filter: { tags: ["judged"] },
        judge: { model: "fake-judge", mode: "absolute", name: "quality" },
      });
      await ingest(s, [call(`jdg-${dialect}`, { tags: ["judged"], text: "answer [[SCORE:4]]" })]);
      await evaluatorSettled(s, judged.id, 1);
      const d = await s.api<{ annotations: Array<{ name: string; numericReward: number; source: string }> }>(
        `/api/calls/jdg-${dialect}`,
      );
      const q = d.body.annotations.find((a) => a.name === "quality");
      assert.equal(q?.source, "judge");
      assert.equal(q?.numericReward, 0.75, "score 4 on [1, 5]");
      // The judge call went through the proxy's write-behind queue: stored once the recorder has flushed it.
      await s.ctx.recorder.flush();
      const judgeCalls = await s.api<{ data: unknown[] }>(
        `/api/calls?tag=${encodeURIComponent(`live-judge:${judged.id}`)}`,
      );
      assert.equal(judgeCalls.body.data.length, 1, "one judge call, not itself evaluated");
      await s.api(`/api/evaluators/${judged.id}`, { body: { enabled: false } });
    });

    it("resumes a killed worker's job once its lease expires", async (t) => {
      const s = server(t);
      if (!s) return;
      const slow = await startFakeUpstream({ keepRequests: false, delayMs: 400 });
      const r = await startTestServer(dialect, { upstream: slow.url, inProcess: true });
      try {
        await r.liveWorker.stop();
        const e = await createEvaluator(r, {
          name: "resumed",
          judge: { model: "fake-judge", mode: "absolute", name: "quality" },
        });
        await ingest(r, [call("killed-1", { text: "answer [[SCORE:5]]" })]);
        const a = new LiveWorker(r.ctx, { leaseMs: 600, pollMs: 20 });
        a.start();
        await eventually(
          async () => (await view(r, e.id)).counters.running === 1,
          5000,
          "a to claim the job",
        );
        await a.kill();
        const held = await r.ctx.store.db.selectFrom("liveJobs").selectAll().executeTakeFirstOrThrow();
        assert.equal(held.status, "running", "a killed worker hands nothing back");
        const b = new LiveWorker(r.ctx, { leaseMs: 600, pollMs: 20 });
        b.start();
        try {
          const c = await evaluatorSettled(r, e.id, 1, 10_000);
          assert.equal(c.done, 1);
          const job = await r.ctx.store.db.selectFrom("liveJobs").selectAll().executeTakeFirstOrThrow();
          assert.equal(job.attempts, 2, "claimed again after the lease expired");
          const d = await r.api<{ annotations: Array<{ name: string; numericReward: number }> }>(
            `/api/calls/killed-1`,
          );
          assert.equal(d.body.annotations.find((x) => x.name === "quality")?.numericReward, 1);
        } finally {
          await b.stop();
        }
      } finally {
        await r.stop();
        await slow.close();
      }
    });
  });
}

describe("two instances on one PostgreSQL database", async () => {
  const skip = !DIALECTS.includes("postgres") || !(await postgresAvailable());
  it("never evaluate a call twice", async (t) => {
    if (skip) return t.skip("PostgreSQL unreachable");
    const fake = await startFakeUpstream({ keepRequests: false });
    const db = await freshDatabase("postgres");
    const b2 = await freshDatabase("sqlite");
    const a = await startTestServer("postgres", {
      upstream: fake.url,
      db: db.db,
      dataDir: db.dataDir,
      inProcess: true,
    });
    let b: TestServer | undefined;
    try {
      const e = await createEvaluator(a, {
        name: "shared",
        filter: { tags: ["both"] },
        sample: 0.5,
        judge: { model: "fake-judge", mode: "absolute", name: "quality" },
        concurrency: 4,
      });
      // Started after the rule exists, so it loads it at once (instances otherwise see it at their next refresh).
      b = await startTestServer("postgres", {
        upstream: fake.url,
        db: db.db,
        dataDir: b2.dataDir,
        inProcess: true,
      });
      const calls = ids(200, "dup").map((id) =>
        call(id, { tags: ["both"], text: "answer [[SCORE:3]]", startedAt: 1_700_000_000_000 }),
      );
      // The same calls sent to both, and backfilled by both at once.
      await Promise.all([ingest(a, calls), ingest(b as TestServer, calls)]);
      const range = { from: 1_700_000_000_000, to: 1_700_000_000_001 };
      await Promise.all([
        a.api(`/api/evaluators/${e.id}/backfill`, { body: range }),
        (b as TestServer).api(`/api/evaluators/${e.id}/backfill`, { body: range }),
      ]);
      const expected = ids(200, "dup").filter((id) => sampled(e.id, 0.5, id)).length;
      const c = await evaluatorSettled(a, e.id, expected, 30_000);
      assert.equal(c.done, expected);
      const jobs = await a.ctx.store.db.selectFrom("liveJobs").select(["attempts"]).execute();
      assert.equal(jobs.length, expected);
      assert.ok(
        jobs.every((j) => j.attempts === 1),
        "each job claimed once",
      );
      // One judge call per job: a job run by both instances would have made two.
      const judgeCalls = await eventually(async () => {
        const n = await a.ctx.store.db
          .selectFrom("callTags")
          .select((eb) => eb.fn.countAll<number>().as("n"))
          .where("tag", "=", `live-judge:${e.id}`)
          .executeTakeFirstOrThrow();
        return Number(n.n) >= expected && Number(n.n);
      }, 10_000);
      assert.equal(judgeCalls, expected);
    } finally {
      await b?.close();
      await a.close();
      await db.drop();
      await b2.drop();
      await fake.close();
    }
  });
});
