/**
 * Review queues on every dialect, in-process: items dealt to N distinct reviewers each (balanced), each through
 * their own notification and signed link; answers through those links give progress per reviewer, agreement per
 * field (alpha for three reviewers, alpha and kappa for two, equal to the statistics on the answers given) and
 * the disagreeing items, which surface in the review queue until a person settles them. Sources: call ids, a
 * dataset, a seeded sample; bad input is a 400 naming its field.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { chatCallBody } from "../testing/calls.ts";
import { DIALECTS, serverForSuite, type TestServer } from "../testing/harness.ts";
import { answerAs } from "../testing/review-queues.ts";
import { cohenKappa, krippendorffAlpha, type Rating } from "./agreement.ts";

interface Estimate {
  value: number | null;
  interval: { lo: number; hi: number } | null;
  items: number;
}
interface QueueOut {
  id: string;
  name: string;
  reviewers: string[];
  perItem: number;
  itemCount: number;
  done: number;
  assigned: number;
  progress: Array<{ reviewer: string; assigned: number; done: number; open: number; lapsed: number }>;
  agreement: Array<{
    field: string;
    level: string;
    alpha: Estimate;
    kappa: Estimate | null;
    disagreements: number;
  }>;
  disagreements: Array<{
    callId: string;
    position: number;
    fields: Array<{ field: string; answers: Record<string, Rating> }>;
  }>;
}
interface InboxOut {
  data: Array<{ id: string; completionId: string; url: string; metadata: Record<string, unknown> | null }>;
}
interface ErrorOut {
  error: { message: string; field: string | null };
}
interface ReviewOut {
  data: Array<{ call: { id: string }; reasons: string[]; kinds: string[] }>;
}

const T0 = Date.UTC(2025, 0, 1);
const RUBRIC = {
  fields: [
    { name: "good", type: "boolean" },
    { name: "quality", type: "scale", min: 1, max: 5 },
    { name: "tone", type: "choice", options: ["warm", "neutral", "cold"] },
    { name: "comment", type: "text" },
  ],
};

const call = (id: string, model: string, i: number) =>
  chatCallBody(id, { model, startedAt: T0 + i, endedAt: T0 + i + 100 });

async function inbox(s: TestServer, reviewer: string) {
  const r = await s.api<InboxOut>(`/api/notifications?recipient=${encodeURIComponent(reviewer)}&limit=200`);
  assert.equal(r.status, 200);
  return r.body.data;
}

const answer = answerAs;

for (const dialect of DIALECTS) {
  describe(`review queues on ${dialect}`, () => {
    const server = serverForSuite(dialect, {}, { inProcess: true });

    it("deals items to distinct reviewers, measures their agreement and surfaces disagreements", async (t) => {
      const s = server(t);
      if (!s) return;
      const ids = Array.from({ length: 6 }, (_, i) => `rq_a_${i}`);
      assert.equal((await s.api("/api/calls", { body: ids.map((id, i) => call(id, "m-a", i)) })).status, 201);
      assert.equal((await s.api("/api/rubrics/triple", { method: "PUT", body: RUBRIC })).status, 200);

      const created = await s.api<QueueOut>("/api/review-queues", {
        body: {
          name: "three people",
          // A completion id is taken for its call.
          source: { callIds: [...ids.slice(0, 5), "cmpl-rq_a_5"] },
          reviewers: ["ana", "bo", "cy"],
          perItem: 2,
          rubric: "triple",
        },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const q = created.body;
      assert.equal(q.itemCount, 6);
      assert.equal(q.assigned, 12);
      assert.equal(q.done, 0);
      assert.deepEqual(
        q.progress.map((p) => [p.reviewer, p.assigned, p.open]),
        [
          ["ana", 4, 4],
          ["bo", 4, 4],
          ["cy", 4, 4],
        ],
        "balanced: 6 items × 2 over 3 people",
      );
      // Each item reaches two different people, each through their own inbox.
      const holders = new Map<string, string[]>();
      for (const r of q.reviewers) {
        for (const n of await inbox(s, r)) {
          if (n.metadata?.reviewQueue !== q.id) continue;
          holders.set(n.completionId, [...(holders.get(n.completionId) ?? []), r]);
        }
      }
      assert.deepEqual([...holders.keys()].sort(), ids);
      for (const [id, who] of holders) assert.equal(new Set(who).size, 2, `${id}: ${who}`);

      // Everyone answers; on rq_a_1 and rq_a_4 the two disagree.
      const given: Record<string, Record<string, { good: boolean; quality: number; tone: string }>> = {};
      for (const [id, who] of holders) {
        const i = Number(id.at(-1));
        for (const [k, r] of who.entries()) {
          const split = (i === 1 || i === 4) && k === 1;
          const a = {
            good: split ? i % 2 === 0 : i % 2 === 1,
            quality: split ? 1 + (i % 5) : 2 + (i % 4),
            tone: "warm",
          };
          given[id] = { ...given[id], [r]: a };
          await answer(s, r, q.id, id, { ...a, comment: "ok" });
        }
      }

      const got = await s.api<QueueOut>(`/api/review-queues/${q.id}`);
      assert.equal(got.status, 200, JSON.stringify(got.body));
      assert.equal(got.body.done, 12);
      assert.ok(got.body.progress.every((p) => p.done === 4 && p.open === 0));
      const field = (name: string) => got.body.agreement.find((a) => a.field === name);
      assert.deepEqual(
        got.body.agreement.map((a) => [a.field, a.level]),
        [
          ["good", "nominal"],
          ["quality", "ordinal"],
          ["tone", "nominal"],
        ],
        "boolean, scale and choice fields; text has no agreement",
      );
      const units = (f: "good" | "quality") =>
        ids.map((id) => q.reviewers.map((r) => given[id]?.[r]?.[f] ?? null));
      assert.equal(field("good")?.alpha.value, krippendorffAlpha(units("good"), "nominal"));
      assert.equal(field("quality")?.alpha.value, krippendorffAlpha(units("quality"), "ordinal"));
      assert.equal(field("good")?.alpha.items, 6);
      assert.equal(field("good")?.kappa, null, "kappa needs exactly two reviewers");
      assert.equal(field("tone")?.alpha.value, null, "one answer throughout: no expected disagreement");
      assert.equal(field("good")?.disagreements, 2);
      assert.deepEqual(
        got.body.disagreements.map((d) => [d.callId, d.fields.map((f) => f.field)]),
        [
          ["rq_a_1", ["good", "quality"]],
          ["rq_a_4", ["good", "quality"]],
        ],
      );
      const again = await s.api<QueueOut>(`/api/review-queues/${q.id}`);
      assert.deepEqual(again.body.agreement, got.body.agreement, "seeded intervals: the same every read");

      const review = await s.api<ReviewOut>("/api/review-queue?limit=50");
      const item = review.body.data.find((x) => x.call.id === "rq_a_1");
      assert.ok(item?.kinds.includes("disagreement"), JSON.stringify(review.body.data.map((x) => x.kinds)));
      assert.match(item?.reasons.join(" | ") ?? "", /reviewers disagree in queue "three people" on good \(/);
      assert.ok(!review.body.data.some((x) => x.call.id === "rq_a_0" && x.kinds.includes("disagreement")));

      // A person settles rq_a_1 outside the queue: it leaves the review queue; rq_a_4 stays.
      const settle = await s.api("/api/annotations", {
        body: {
          annotationKey: "rq_a_1",
          name: "good",
          numericReward: 1,
          source: "human",
          annotatorId: "lead",
        },
      });
      assert.equal(settle.status, 201, JSON.stringify(settle.body));
      const after = await s.api<ReviewOut>("/api/review-queue?limit=50");
      const kindsOf = (id: string) => after.body.data.find((x) => x.call.id === id)?.kinds ?? [];
      assert.ok(!kindsOf("rq_a_1").includes("disagreement"));
      assert.ok(kindsOf("rq_a_4").includes("disagreement"));

      const list = await s.api<{ data: QueueOut[] }>("/api/review-queues");
      const listed = list.body.data.find((x) => x.id === q.id);
      assert.deepEqual([listed?.done, listed?.assigned, listed?.itemCount], [12, 12, 6]);
    });

    it("gives Cohen's kappa with two reviewers, from a dataset or a seeded sample", async (t) => {
      const s = server(t);
      if (!s) return;
      const ids = Array.from({ length: 8 }, (_, i) => `rq_b_${i}`);
      await s.api("/api/calls", { body: ids.map((id, i) => call(id, i < 6 ? "m-b" : "m-other", 100 + i)) });
      const ds = await s.api("/api/datasets", { body: { name: "rq-b", filter: { model: "m-b" } } });
      assert.equal(ds.status, 201, JSON.stringify(ds.body));

      const created = await s.api<QueueOut>("/api/review-queues", {
        body: { name: "pair", source: { dataset: "rq-b" }, reviewers: ["dee", "eli"], perItem: 2 },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.itemCount, 6);
      const a: boolean[] = [true, true, false, false, true, false];
      const b: boolean[] = [true, false, false, false, true, true];
      for (const [i, id] of ids.slice(0, 6).entries()) {
        await answer(s, "dee", created.body.id, id, { reward: a[i] });
        if (i < 5) await answer(s, "eli", created.body.id, id, { reward: b[i] });
      }
      const got = await s.api<QueueOut>(`/api/review-queues/${created.body.id}`);
      const reward = got.body.agreement.find((x) => x.field === "reward");
      assert.equal(reward?.kappa?.items, 5, "only items both answered");
      assert.equal(reward?.kappa?.value, cohenKappa(a.slice(0, 5), b.slice(0, 5)));
      assert.equal(got.body.progress.find((p) => p.reviewer === "eli")?.open, 1, "eli has one left");

      const sample = (seed: number) =>
        s.api<QueueOut>("/api/review-queues", {
          body: {
            name: "sampled",
            source: { sample: { n: 3, filter: { model: "m-b" }, seed } },
            reviewers: ["fay"],
            perItem: 1,
          },
        });
      const one = await sample(7);
      const two = await sample(7);
      assert.equal(one.status, 201, JSON.stringify(one.body));
      const itemsOf = async (q: QueueOut) =>
        (await inbox(s, "fay"))
          .filter((n) => n.metadata?.reviewQueue === q.id)
          .map((n) => n.completionId)
          .sort();
      const first = await itemsOf(one.body);
      assert.equal(first.length, 3);
      assert.ok(
        first.every((id) => ids.slice(0, 6).includes(id)),
        "only calls matching the filter",
      );
      assert.deepEqual(await itemsOf(two.body), first, "the same seed draws the same sample");
    });

    it("answers 400 naming the field, and 404 for an unknown queue", async (t) => {
      const s = server(t);
      if (!s) return;
      await s.api("/api/calls", { body: [call("rq_c_0", "m-c", 200)] });
      const bad = async (body: object, field: string, message: RegExp) => {
        const r = await s.api<ErrorOut>("/api/review-queues", { body });
        assert.equal(r.status, 400, JSON.stringify(r.body));
        assert.equal(r.body.error.field, field, r.body.error.message);
        assert.match(r.body.error.message, message);
      };
      const base = { name: "q", source: { callIds: ["rq_c_0"] }, reviewers: ["a", "b"] };
      await bad({ ...base, perItem: 3 }, "perItem", /cannot exceed the number of reviewers/);
      await bad({ ...base, rubric: "nope" }, "rubric", /no rubric named "nope"/);
      await bad({ ...base, source: { callIds: ["rq_c_0", "missing"] } }, "source.callIds[1]", /no call/);
      await bad({ ...base, source: { dataset: "nope" } }, "source.dataset", /no dataset named "nope"/);
      await bad({ ...base, source: { callIds: ["rq_c_0"], dataset: "x" } }, "source", /exactly one of/);
      await bad({ ...base, reviewers: ["a", "a"] }, "reviewers", /distinct/);
      await bad(
        { ...base, source: { sample: { n: 2, filter: { colour: "red" } } } },
        "source.sample.filter.colour",
        /unknown filter/,
      );
      await bad(
        { ...base, source: { sample: { n: 2, filter: { model: "none" } } } },
        "source",
        /selects no calls/,
      );
      await bad({ ...base, levels: { reward: "interval" } }, "levels.reward", /only nominal/);
      const missing = await s.api<ErrorOut>("/api/review-queues/rq_nope");
      assert.equal(missing.status, 404);
    });
  });
}
