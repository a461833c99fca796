/**
 * The worker's contract, on each dialect: evaluations run from code with custom checks; an item leased by a
 * worker that died is left alone until its lease ends, then reclaimed; two server instances on one store share
 * a run's items without doing any twice (429s are waited out as the upstream asks: proxy-client.test.ts).
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { DIALECTS, evalWhenDone, eventually, fakeUpstreamSuite, startTestServer } from "../testing/index.ts";
import type { CustomCheck } from "./checks.ts";
import { runEvaluation } from "./index.ts";
import { createRun, planRun } from "./runs.ts";
import { createEvalSchema, parseInput } from "./schemas.ts";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
type Body = Record<string, any>;

const N = 6;
const ids = Array.from({ length: N }, (_, i) => `w-${i}`);

for (const dialect of DIALECTS) {
  describe(`evaluation worker (${dialect})`, async () => {
    const suite = await fakeUpstreamSuite(dialect);
    const { skip } = suite;

    before(async () => {
      if (skip) return;
      await suite.s.api("/api/calls", {
        body: ids.map((id, i) => ({
          id,
          request: { model: "fake-model", messages: [{ role: "user", content: `question ${i}` }] },
          response: { choices: [{ index: 0, message: { role: "assistant", content: `answer ${i}` } }] },
        })),
      });
      await suite.s.api("/api/annotations", {
        body: { annotationKey: "w-1", correction: "echo: question 1", source: "human" },
      });
    });

    it("should run an evaluation from code with custom checks and return its report", { skip }, async () => {
      const seen: Body[] = [];
      const even: CustomCheck = {
        name: "even-question",
        run: (item) => {
          seen.push(item);
          const text = String((item.request.messages as Array<{ content: string }>)[0]?.content);
          const n = Number(text.split(" ")[1]);
          return { pass: n % 2 === 0, score: n, reason: `question ${n}` };
        },
      };
      const throws: CustomCheck = {
        name: "throws",
        run: () => {
          throw new Error("boom");
        },
      };
      const progress: number[] = [];
      const { run, report } = await runEvaluation(suite.s, {
        callIds: ids,
        candidate: { model: "fake-model" },
        checks: [even, throws, "regex:^echo: question"],
        pollMs: 20,
        onProgress: (p) => progress.push(p.done),
      });
      assert.equal(run.status, "done");
      assert.equal(run.needsCode, true);
      const [e, t, r] = report.checks;
      assert.deepEqual([e?.name, e?.passed, e?.failed, e?.meanScore], ["even-question", 3, 3, 2.5]);
      assert.deepEqual([t?.errors, t?.n], [N, 0]);
      assert.deepEqual([r?.passed, r?.failed], [N, 0]);
      assert.equal(progress.at(-1), N);
      // The reference is the correction when there is one, else the logged answer.
      const refs = new Map(
        seen.map((x) => [(x.request.messages as Array<{ content: string }>)[0]?.content, x.reference]),
      );
      assert.equal(refs.get("question 1"), "echo: question 1");
      assert.deepEqual(refs.get("question 2"), { role: "assistant", content: "answer 2" });
      assert.equal((seen[0]?.response as Body | undefined)?.object, "chat.completion");
    });

    it("should leave an item leased by a dead worker alone until its lease ends, then reclaim it", {
      skip,
    }, async () => {
      const check: CustomCheck = { name: "ok", run: () => ({ pass: true }) };
      // A run with a custom check is skipped by workers that lack the code, so the lock can be set up first.
      const plan = await planRun(
        suite.s.ctx,
        parseInput(createEvalSchema, { callIds: ids, checks: ["ok"], concurrency: 2 }),
        { custom: new Set(["ok"]) },
      );
      const run = await createRun(suite.s.ctx.store, plan);
      const held = { status: "running", lease: "wkr_dead.1", attempts: 1, lockedUntil: Date.now() + 60_000 };
      await suite.s.ctx.store.db
        .updateTable("evalItems")
        .set(held)
        .where("runId", "=", run.id)
        .where("itemIndex", "=", 0)
        .execute();
      suite.s.evalWorker.provideCode(run.id, [check]);
      const progress = async () => (await suite.s.api<Body>(`/api/evals/${run.id}`)).body.progress;
      await eventually(async () => (await progress()).done === N - 1, 10_000);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(await progress(), { total: N, done: N - 1, failed: 0, pending: 0, running: 1 });
      await suite.s.ctx.store.db
        .updateTable("evalItems")
        .set({ lockedUntil: Date.now() - 1 })
        .where("runId", "=", run.id)
        .where("itemIndex", "=", 0)
        .execute();
      suite.s.evalWorker.poke();
      await evalWhenDone(suite.s, run.id, 10_000);
      const items = await suite.s.ctx.store.db
        .selectFrom("evalItems")
        .select(["itemIndex", "attempts", "status", "lease"])
        .where("runId", "=", run.id)
        .orderBy("itemIndex")
        .execute();
      assert.deepEqual(
        items.map((i) => [i.itemIndex, i.attempts, i.status, i.lease]),
        ids.map((_, i) => [i, i === 0 ? 2 : 1, "done", null]),
      );
    });

    it("should share a run between two server instances on one store, each item done once", {
      skip,
    }, async () => {
      const other = await startTestServer(dialect, {
        upstream: suite.fake.url,
        db: suite.s.config.db.kind === "sqlite" ? suite.s.config.db.file : suite.s.config.db.url,
        dataDir: `${suite.s.config.dataDir}-2`,
      });
      try {
        suite.fake.requests.splice(0);
        const created = await suite.s.api<Body>("/api/evals", {
          body: {
            callIds: ids,
            candidate: { model: "shared-model", headers: { "x-fake-delay-ms": "100" } },
            checks: ["regex:^echo:"],
            concurrency: 1,
          },
        });
        const id = created.body.id as string;
        // Wake the second instance's worker too (it would otherwise find the run on its next poll).
        other.evalWorker.poke();
        // Each instance runs one item at a time, so two at once means both are working on the run.
        let maxRunning = 0;
        await eventually(async () => {
          const r = (await other.api<Body>(`/api/evals/${id}`)).body;
          maxRunning = Math.max(maxRunning, r.progress.running);
          return r.run.status === "done";
        }, 15_000);
        assert.equal(maxRunning, 2);
        const questions = suite.fake.requests
          .map((r) => JSON.parse(r.body) as Body)
          .filter((b) => b.model === "shared-model")
          .map((b) => b.messages[0].content)
          .sort();
        assert.deepEqual(
          questions,
          ids.map((_, i) => `question ${i}`),
        );
        const rows = await suite.s.ctx.store.db
          .selectFrom("evalItems")
          .select(["attempts"])
          .where("runId", "=", id)
          .execute();
        assert.ok(rows.every((r) => r.attempts === 1));
      } finally {
        await other.stop();
      }
    });
  });
}
