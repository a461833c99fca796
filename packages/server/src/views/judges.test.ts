/**
 * Judge calibration on every dialect, in-process: `GET /api/judges` (verdicts, items people labelled too,
 * agreement and kappa against a hand-counted confusion table, the newest verdict counting, several people
 * averaged, `code` labels not counted, pairwise choices in either order and per criterion) and
 * `GET /api/judges/:name/calibration` (the disagreements with their calls, reasons and people's labels, paged).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { chatCallBody } from "../testing/calls.ts";
import { DIALECTS, postCreated, serverForSuite, type TestServer } from "../testing/harness.ts";
import type { CalibrationPage, JudgeSummary } from "./judges.ts";

const T0 = Date.parse("2025-04-01T10:00:00Z");

const call = (id: string, i: number) => chatCallBody(id, { startedAt: T0 + i, endedAt: T0 + i + 100 });

async function judges(s: TestServer): Promise<JudgeSummary[]> {
  const r = await s.api<{ data: JudgeSummary[] }>("/api/judges");
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.data;
}

// Judge × people on 25 calls: pass/pass 12, pass/fail 3, fail/pass 2, fail/fail 8.
// po = 20/25 = 0.8; pe = 0.6·0.56 + 0.4·0.44 = 0.512; kappa = 0.288 / 0.488 = 0.590164.
const CELLS: Array<[number, number, number]> = [
  [12, 1, 1],
  [3, 1, 0],
  [2, 0, 1],
  [8, 0, 0],
];

for (const dialect of DIALECTS) {
  describe(`judge calibration on ${dialect}`, () => {
    const server = serverForSuite(dialect, {}, { inProcess: true });

    it("lists an absolute judge with its kappa, confusion table and disagreements", async (t) => {
      const s = server(t);
      if (!s) return;
      const ids: string[] = [];
      const plan: Array<{ id: string; judge: number; human: number }> = [];
      for (const [count, judge, human] of CELLS)
        for (let k = 0; k < count; k++) {
          const id = `jc_${String(ids.length).padStart(2, "0")}`;
          ids.push(id);
          plan.push({ id, judge, human });
        }
      ids.push("jc_unlabelled");
      await postCreated(
        s,
        "/api/calls",
        ids.map((id, i) => call(id, i)),
      );
      const first = plan[0] as { id: string };
      // An older verdict the judge later changed: only the newest counts.
      await postCreated(s, "/api/annotations", {
        id: "jdg_old",
        annotationKey: first.id,
        name: "helpful",
        numericReward: 0,
        source: "judge",
        annotatorId: "gpt-old",
      });
      await postCreated(s, "/api/annotations", [
        ...plan.map((p) => ({
          id: `jdg_${p.id}`,
          // Some by completion id: they resolve to the same call.
          annotationKey: p.id.endsWith("1") ? `cmpl-${p.id}` : p.id,
          name: "helpful",
          numericReward: p.judge ? 0.9 : 0.1,
          source: "judge",
          annotatorId: "gpt-4o-mini",
          comment: `reason for ${p.id}`,
        })),
        {
          annotationKey: "jc_unlabelled",
          name: "helpful",
          numericReward: 1,
          source: "judge",
          annotatorId: "gpt-4o-mini",
        },
        ...plan.map((p, i) => ({
          annotationKey: p.id,
          name: "helpful",
          numericReward: p.human,
          // People's labels come from the app (human) or from the end user (user); both count.
          source: i % 2 ? "user" : "human",
          annotatorId: `person_${i % 3}`,
          comment: `label for ${p.id}`,
        })),
        // An automated score of the same name is not a person's label: it would flip jc_00 if it counted.
        { annotationKey: first.id, name: "helpful", numericReward: 0, source: "code" },
        // A label of another name on a judged call is not this judge's.
        { annotationKey: first.id, name: "other", numericReward: 0, source: "human" },
      ]);
      // Two people on one pass/pass call, averaging 0.65: still pass.
      await postCreated(s, "/api/annotations", {
        annotationKey: first.id,
        name: "helpful",
        numericReward: 0.3,
        source: "human",
        annotatorId: "second",
      });

      const list = await judges(s);
      const h = list.find((j) => j.name === "helpful" && j.mode === "absolute");
      assert.ok(h, JSON.stringify(list));
      assert.equal(h.verdicts, 26);
      assert.equal(h.labelled, 25);
      assert.deepEqual(h.models, ["gpt-4o-mini", "gpt-old"]);
      assert.equal(h.criterion, null);
      assert.deepEqual(h.confusion, {
        labels: ["pass", "fail"],
        counts: [
          [12, 3],
          [2, 8],
        ],
      });
      assert.equal(h.agreement.n, 25);
      assert.equal(h.agreement.agree, 20);
      assert.equal(h.agreement.rate, 0.8);
      assert.ok(Math.abs((h.agreement.kappa as number) - 0.590164) < 1e-6, String(h.agreement.kappa));
      const [lo, hi] = h.agreement.kappaCi ?? [Number.NaN, Number.NaN];
      assert.ok(lo < 0.590164 && hi > 0.590164 && lo >= -1 && hi <= 1, String(h.agreement.kappaCi));
      assert.equal(h.calibrated, true);
      assert.equal(h.disagreements, 5);
      assert.ok(!list.some((j) => j.name === "other"), "a name no judge wrote is not a judge");

      // The calibrate view: the 5 disagreements, two a page, each once.
      const seen: CalibrationPage["data"] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
        const r: { status: number; body: CalibrationPage } = await s.api<CalibrationPage>(
          `/api/judges/helpful/calibration?limit=2${q}`,
        );
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.ok(r.body.data.length <= 2);
        assert.equal(r.body.judges[0]?.agreement.kappa, h.agreement.kappa);
        seen.push(...r.body.data);
        cursor = r.body.nextCursor;
        pages++;
      } while (cursor && pages < 10);
      assert.equal(pages, 3);
      const wrong = plan.filter((p) => p.judge !== p.human).map((p) => p.id);
      assert.deepEqual(seen.map((d) => d.key).sort(), wrong.sort());
      for (const d of seen) {
        const p = plan.find((x) => x.id === d.key) as { judge: number; human: number };
        assert.equal(d.mode, "absolute");
        assert.equal(d.judge.verdict, p.judge ? "pass" : "fail");
        assert.equal(d.human, p.human ? "pass" : "fail");
        assert.equal(d.judge.reason, `reason for ${d.key}`);
        assert.equal(d.judge.annotatorId, "gpt-4o-mini");
        assert.deepEqual(
          d.humans.map((x) => [x.reward, x.reason]),
          [[p.human, `label for ${d.key}`]],
        );
        assert.equal(d.calls[0]?.callId, d.key);
        assert.match(d.calls[0]?.input ?? "", new RegExp(`question ${d.key}`));
        assert.match(d.calls[0]?.output ?? "", new RegExp(`answer ${d.key}`));
      }
    });

    it("says a judge with few labelled items is not yet calibrated, and one without any has no kappa", async (t) => {
      const s = server(t);
      if (!s) return;
      await postCreated(s, "/api/calls", [call("few_0", 0), call("few_1", 1), call("few_2", 2)]);
      await postCreated(s, "/api/annotations", [
        ...["few_0", "few_1", "few_2"].map((k, i) => ({
          annotationKey: k,
          name: "check:tone",
          numericReward: i === 0 ? 0 : 1,
          source: "judge",
          annotatorId: "judge-model",
        })),
        { annotationKey: "few_0", name: "check:tone", numericReward: 0, source: "human" },
        { annotationKey: "few_1", name: "check:tone", numericReward: 1, source: "human" },
        { annotationKey: "few_2", name: "lonely", numericReward: 1, source: "judge" },
      ]);
      const list = await judges(s);
      const tone = list.find((j) => j.name === "check:tone");
      assert.equal(tone?.labelled, 2);
      assert.equal(tone?.agreement.kappa, 1);
      assert.equal(tone?.calibrated, false);
      const lonely = list.find((j) => j.name === "lonely");
      assert.equal(lonely?.labelled, 0);
      assert.equal(lonely?.agreement.kappa, null);
      assert.equal(lonely?.agreement.rate, null);
      assert.deepEqual(lonely?.models, []);
      const page = await s.api<CalibrationPage>("/api/judges/check%3Atone/calibration");
      assert.equal(page.status, 200, JSON.stringify(page.body));
      assert.deepEqual(page.body.data, []);
      assert.equal(page.body.nextCursor, null);
    });

    it("compares a pairwise judge's choices with people's on the same pair, in either order, per criterion", async (t) => {
      const s = server(t);
      if (!s) return;
      const tags = ["pw_a1", "pw_b1", "pw_a2", "pw_b2", "pw_a3", "pw_b3", "pw_a4", "pw_b4"];
      await postCreated(
        s,
        "/api/calls",
        tags.map((id, i) => call(id, i)),
      );
      await postCreated(s, "/api/comparisons", [
        // 1: both say a. 2: the person saw the pair reversed and chose b, which is the judge's a.
        { a: "pw_a1", b: "pw_b1", choice: "a", source: "judge", annotatorId: "pref", reason: "a is kinder" },
        { a: "pw_a1", b: "pw_b1", choice: "a", source: "human", annotatorId: "ana" },
        { a: "pw_a2", b: "pw_b2", choice: "a", source: "judge", annotatorId: "pref" },
        { a: "pw_b2", b: "pw_a2", choice: "b", source: "human", annotatorId: "ana" },
        // 3: the judge says b, the person a: a disagreement.
        { a: "pw_a3", b: "pw_b3", choice: "b", source: "judge", annotatorId: "pref", reason: "b is shorter" },
        {
          a: "pw_a3",
          b: "pw_b3",
          choice: "a",
          source: "human",
          annotatorId: "ana",
          reason: "b drops the point",
        },
        // 4: the judge says tie; two people split, which reads as a tie.
        { a: "pw_a4", b: "pw_b4", choice: "tie", source: "judge", annotatorId: "pref" },
        { a: "pw_a4", b: "pw_b4", choice: "a", source: "human", annotatorId: "ana" },
        { a: "pw_a4", b: "pw_b4", choice: "b", source: "human", annotatorId: "bo" },
      ]);
      // On a named criterion: compared only with people's choices on that criterion.
      const critical = await s.api("/api/comparisons", {
        body: [
          {
            a: "pw_a1",
            b: "pw_b1",
            choice: "b",
            source: "judge",
            annotatorId: "pref",
            criterion: "engagement",
          },
          {
            a: "pw_a1",
            b: "pw_b1",
            choice: "b",
            source: "human",
            annotatorId: "ana",
            criterion: "engagement",
          },
          {
            a: "pw_a2",
            b: "pw_b2",
            choice: "a",
            source: "judge",
            annotatorId: "pref",
            criterion: "engagement",
          },
        ],
      });
      const withCriterion = critical.status === 201;

      const list = (await judges(s)).filter((j) => j.name === "pref");
      const whole = list.find((j) => j.criterion === null);
      assert.ok(whole, JSON.stringify(list));
      assert.equal(whole.mode, "pairwise");
      assert.equal(whole.verdicts, 4);
      assert.equal(whole.labelled, 4);
      assert.deepEqual(whole.confusion, {
        labels: ["a", "b", "tie"],
        counts: [
          [2, 0, 0],
          [1, 0, 0],
          [0, 0, 1],
        ],
      });
      assert.equal(whole.agreement.agree, 3);
      // po = 3/4; judge a .5, b .25, tie .25; people a .75, tie .25; pe = .375 + .0625 = .4375; (.3125)/(.5625).
      assert.ok(Math.abs((whole.agreement.kappa as number) - 0.555556) < 1e-6, String(whole.agreement.kappa));
      if (withCriterion) {
        const eng = list.find((j) => j.criterion === "engagement");
        assert.equal(eng?.verdicts, 2);
        assert.equal(eng?.labelled, 1);
        assert.equal(eng?.agreement.agree, 1);
      }

      const page = await s.api<CalibrationPage>("/api/judges/pref/calibration");
      assert.equal(page.status, 200, JSON.stringify(page.body));
      assert.equal(page.body.data.length, 1);
      const d = page.body.data[0];
      assert.equal(d?.mode, "pairwise");
      assert.equal(d?.judge.verdict, "b");
      assert.equal(d?.judge.reason, "b is shorter");
      assert.equal(d?.human, "a");
      assert.deepEqual(
        d?.calls.map((c) => [c.tag, c.callId]),
        [
          ["pw_a3", "pw_a3"],
          ["pw_b3", "pw_b3"],
        ],
      );
      assert.equal(d?.humans[0]?.reason, "b drops the point");
    });

    it("answers 404 for a judge never seen and 400 naming the cursor for a foreign one", async (t) => {
      const s = server(t);
      if (!s) return;
      const none = await s.api<{ error: { message: string } }>("/api/judges/nobody/calibration");
      assert.equal(none.status, 404);
      await postCreated(s, "/api/calls", [call("cur_0", 0)]);
      await postCreated(s, "/api/annotations", {
        annotationKey: "cur_0",
        name: "cursory",
        numericReward: 1,
        source: "judge",
      });
      const bad = await s.api<{ error: { field?: string } }>(
        "/api/judges/cursory/calibration?cursor=nonsense",
      );
      assert.equal(bad.status, 400);
      assert.match(JSON.stringify(bad.body), /cursor/);
      const limit = await s.api("/api/judges/cursory/calibration?limit=0");
      assert.equal(limit.status, 400);
    });
  });
}
