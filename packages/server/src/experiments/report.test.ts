/**
 * The experiment report over seeded calls, annotations and comparisons with known answers, on every dialect:
 * per-unit means, what live and shadow calls each count toward, pairwise from the variant's side, the verdict
 * line, the sample-ratio check and the daily sequence.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { toCallRow } from "../calls/record.ts";
import { capturedCall } from "../testing/calls.ts";
import { DIALECTS, serverForSuite, type TestServer } from "../testing/harness.ts";
import type { ExperimentReport } from "./responses.ts";
import { differenceCS, meanCS, moments } from "./stats.ts";

const DAY = 86_400_000;
/** A UTC midnight, so that the seeded days are whole days. */
const D0 = Date.UTC(2026, 0, 5);

interface Seed {
  id: string;
  experiment?: string;
  variant: string;
  /** null: the request lacked the experiment's unit id (the proxy then gives the control and records no unit). */
  unit: string | null;
  day?: number;
  durationMs?: number;
  outcome?: "ok" | "upstream_error";
  costUsd?: number;
  shadowOf?: string;
}

/**
 * Writes calls with the experiment columns set, through the store (the proxy and POST /api/calls fill them in
 * production; the report only reads them).
 */
async function seedCalls(s: TestServer, experiment: string, calls: Seed[]): Promise<void> {
  const rows = calls.map((c) => {
    const startedAt = D0 + (c.day ?? 0) * DAY + 1000;
    return {
      ...toCallRow(
        capturedCall({
          id: c.id,
          startedAt,
          endedAt: startedAt + (c.durationMs ?? 100),
          outcome: c.outcome ?? "ok",
          status: c.outcome === "upstream_error" ? 500 : 200,
        }),
        "full",
      ),
      costUsd: c.costUsd ?? null,
      experiment: c.experiment ?? experiment,
      variant: c.variant,
      assignmentUnit: c.unit,
      shadowOf: c.shadowOf ?? null,
    };
  });
  for (let i = 0; i < rows.length; i += 200)
    await s.ctx.store.db
      .insertInto("calls")
      .values(rows.slice(i, i + 200))
      .execute();
}

async function createRunning(s: TestServer, name: string, weights: [number, number] = [50, 50]) {
  const created = await s.api("/api/experiments", {
    body: {
      name,
      by: "ana",
      status: "running",
      variants: [
        { name: "control", weight: weights[0] },
        { name: "short", weight: weights[1], systemPrompt: "Answer in five words." },
      ],
    },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
}

async function report(s: TestServer, name: string, query = "") {
  const res = await s.api<ExperimentReport>(`/api/experiments/${name}/report${query}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

for (const dialect of DIALECTS) {
  describe(`experiment report (${dialect})`, () => {
    const server = serverForSuite(dialect, {}, { inProcess: true });

    it("reports per-unit means, checks on shadows, pairwise from the variant's side, and a verdict", async (t) => {
      const s = server(t);
      if (!s) return;
      await createRunning(s, "titles");
      await seedCalls(s, "titles", [
        // control: four users, u1 with two calls (one failed); durations 100..500 ms; $0.001 a call.
        { id: "c1a", variant: "control", unit: "userId:u1", durationMs: 100, costUsd: 0.001 },
        {
          id: "c1b",
          variant: "control",
          unit: "userId:u1",
          durationMs: 200,
          costUsd: 0.001,
          outcome: "upstream_error",
          day: 1,
        },
        { id: "c2", variant: "control", unit: "userId:u2", durationMs: 300, costUsd: 0.001 },
        { id: "c3", variant: "control", unit: "userId:u3", durationMs: 400, costUsd: 0.001, day: 1 },
        { id: "c4", variant: "control", unit: "userId:u4", durationMs: 500, costUsd: 0.001, day: 2 },
        // short: four users, one call each, $0.002 a call.
        { id: "c5", variant: "short", unit: "userId:u5", costUsd: 0.002 },
        { id: "c6", variant: "short", unit: "userId:u6", costUsd: 0.002 },
        { id: "c7", variant: "short", unit: "userId:u7", costUsd: 0.002, day: 2 },
        { id: "c8", variant: "short", unit: "userId:u8", costUsd: 0.002, day: 2 },
        // A shadow of c2 answered by short: neither a unit nor a call of short's, but its checks count.
        { id: "s2", variant: "short", unit: "userId:u2", shadowOf: "c2", costUsd: 0.5 },
        // Another experiment's call: nothing of it may count.
        { id: "x1", experiment: "other", variant: "short", unit: "userId:u9", outcome: "upstream_error" },
      ]);
      const thumbs = (key: string, r: number) => ({ annotationKey: key, name: "thumbs", numericReward: r });
      const ann = await s.api("/api/annotations", {
        body: [
          // control per user: u1 (1 + 0)/2 = 0.5, u2 0, u3 1, u4 0 → mean 0.375 over 4 units.
          thumbs("c1a", 1),
          thumbs("c1b", 0),
          thumbs("c2", 0),
          thumbs("c3", 1),
          thumbs("c4", 0),
          // short: 1, 1, 0, 1 → 0.75 over 4 units.
          thumbs("c5", 1),
          thumbs("c6", 1),
          thumbs("c7", 0),
          thumbs("c8", 1),
          // Nobody saw the shadow's answer: a reward on it is left out.
          thumbs("s2", 0),
          thumbs("x1", 1),
          // Checks: passed on the shadow, failed on the call it shadows, passed on c5.
          { annotationKey: "s2", name: "check:json", numericReward: 1, source: "code" },
          { annotationKey: "c2", name: "check:json", numericReward: 0, source: "code" },
          { annotationKey: "c5", name: "check:json", numericReward: 1, source: "code" },
        ],
      });
      assert.equal(ann.status, 201, JSON.stringify(ann.body));
      const cmp = await s.api("/api/comparisons", {
        body: [
          // short wins as b against the control (the shadow pair), ties as a, loses as a.
          { a: "c2", b: "s2", choice: "b", annotatorId: "gpt-judge", source: "judge" },
          { a: "c5", b: "c3", choice: "tie", annotatorId: "gpt-judge", source: "judge" },
          { a: "c6", b: "c4", choice: "b", annotatorId: "gpt-judge", source: "judge" },
          // Two control answers, and another experiment's call: not a comparison against the control.
          { a: "c1a", b: "c3", choice: "a", annotatorId: "gpt-judge", source: "judge" },
          { a: "x1", b: "c4", choice: "a", annotatorId: "gpt-judge", source: "judge" },
        ],
      });
      assert.equal(cmp.status, 201, JSON.stringify(cmp.body));

      const r = await report(s, "titles");
      assert.equal(r.experiment, "titles");
      assert.equal(r.control, "control");
      assert.equal(r.unit, "userId");
      assert.equal(r.alpha, 0.05);
      assert.match(r.method, /arXiv:2103\.06476/);
      const [control, short] = r.variants;
      assert.ok(control && short);
      assert.equal(control.name, "control");
      assert.equal(control.control, true);
      assert.equal(control.share, 0.5);
      assert.deepEqual([control.units, control.calls, control.shadowCalls], [4, 5, 0]);
      assert.deepEqual([short.units, short.calls, short.shadowCalls], [4, 4, 1]);
      // Error rate per user: u1 1/2, the others 0 → 0.125.
      assert.equal(control.errorRate.n, 4);
      assert.equal(control.errorRate.estimate, 0.125);
      assert.equal(short.errorRate.estimate, 0);
      // No failure in 4 units is not certainty: a floor variance gives it width, cut at 0 below.
      assert.equal(short.errorRate.low, 0);
      assert.ok((short.errorRate.high as number) > 0.1, String(short.errorRate.high));
      assert.ok(Math.abs(control.costUsd.total - 0.005) < 1e-12);
      assert.ok(
        Math.abs((short.costUsd.perCall as number) - 0.002) < 1e-12,
        "the shadow's cost is not short's",
      );
      // Durations 100, 200, 300, 400, 500: p50 300; p95 at rank 3.8 → 400 + 0.8 · 100 = 480.
      assert.deepEqual(control.latencyMs, { p50: 300, p95: 480 });

      const controlThumbs = control.rewards.find((x) => x.name === "thumbs");
      const shortThumbs = short.rewards.find((x) => x.name === "thumbs");
      assert.deepEqual(controlThumbs, { name: "thumbs", ...meanCS(moments([0.5, 0, 1, 0])) });
      assert.equal(shortThumbs?.estimate, 0.75);
      assert.equal(shortThumbs?.n, 4);
      // check:json: control c2 failed (0 of 1 unit); short passed on u2's shadow and on u5 → 1 over 2 units.
      assert.deepEqual(
        control.checks.map((c) => [c.name, c.n, c.estimate]),
        [["json", 1, 0]],
      );
      assert.deepEqual(
        short.checks.map((c) => [c.name, c.n, c.estimate]),
        [["json", 2, 1]],
      );

      assert.deepEqual(control.pairwise, []);
      const judge = short.pairwise[0];
      assert.equal(short.pairwise.length, 1);
      assert.deepEqual(
        [judge?.judge, judge?.wins, judge?.ties, judge?.losses, judge?.n, judge?.estimate],
        ["gpt-judge", 1, 1, 1, 3, 0.5],
      );

      const diff = (m: string) => short.vsControl.find((d) => d.metric === m);
      const onThumbs = diff("reward:thumbs");
      const expected = differenceCS(moments([1, 1, 0, 1]), moments([0.5, 0, 1, 0]));
      assert.equal(onThumbs?.estimate, 0.375);
      assert.equal(onThumbs?.n, 8);
      assert.equal(onThumbs?.low, expected.low);
      assert.equal(onThumbs?.high, expected.high);
      assert.equal(onThumbs?.verdict, "not yet known", "8 units cannot settle it");
      assert.equal(onThumbs?.higherIsBetter, true);
      assert.ok((onThumbs?.moreUnits ?? 0) > 0);
      const onErrors = diff("errorRate");
      assert.equal(onErrors?.higherIsBetter, false);
      assert.equal(onErrors?.estimate, -0.125);
      // Pairwise is relative already: win rate − 0.5.
      assert.equal(diff("pairwise:gpt-judge")?.estimate, 0);
      assert.equal(diff("pairwise:gpt-judge")?.moreUnits, null, "an even split is settled by no sample size");
      assert.deepEqual(
        short.vsControl.map((d) => d.metric),
        ["reward:thumbs", "check:json", "pairwise:gpt-judge", "errorRate"],
      );

      assert.deepEqual(r.sampleRatio.expected, { control: 0.5, short: 0.5 });
      assert.deepEqual(r.sampleRatio.observed, { control: 4, short: 4 });
      assert.equal(r.sampleRatio.pValue, 1);
      assert.equal(r.sampleRatio.mismatch, false);
      assert.equal(r.verdict.metric, "reward:thumbs", "the reward with the most units is the default");
      assert.match(
        r.verdict.line,
        /^not yet known: about [\d,]+ more units would settle short vs control on reward:thumbs$/,
      );

      // The sequence on errorRate: calls on days 0, 1 and 2, one cumulative point per day.
      const byErrors = await report(s, "titles", "?metric=errorRate&alpha=0.1");
      assert.equal(byErrors.alpha, 0.1);
      assert.equal(byErrors.verdict.metric, "errorRate");
      assert.deepEqual(
        byErrors.sequence.map((p) => [p.at - D0, p.variant, p.metric, p.n]),
        [
          [DAY, "short", "errorRate", 2 + 2],
          [2 * DAY, "short", "errorRate", 2 + 3],
          [3 * DAY, "short", "errorRate", 4 + 4],
        ],
      );
      const last = byErrors.sequence.at(-1);
      const final = byErrors.variants[1]?.vsControl.find((d) => d.metric === "errorRate");
      assert.equal(last?.estimate, final?.estimate);
      assert.equal(last?.low, final?.low);
      // Day 1: control u1 (1/2 after its failed call), u2, u3; short u5, u6: 1/6 − 0 → −1/6.
      const day1 = byErrors.sequence[1];
      assert.ok(Math.abs((day1?.estimate as number) + 1 / 6) < 1e-12, String(day1?.estimate));
    });

    it("detects a sample-ratio mismatch when the split is skewed, and not otherwise", async (t) => {
      const s = server(t);
      if (!s) return;
      const seedSplit = async (name: string, control: number, short: number) => {
        await createRunning(s, name);
        await seedCalls(s, name, [
          ...Array.from({ length: control }, (_, i) => ({
            id: `${name}-c${i}`,
            variant: "control",
            unit: `userId:c${i}`,
          })),
          ...Array.from({ length: short }, (_, i) => ({
            id: `${name}-s${i}`,
            variant: "short",
            unit: `userId:s${i}`,
          })),
        ]);
      };
      // 90 against 30 on a 50/50 split: χ² = 2 · 30²/60 = 30, p ≈ 4e-8.
      await seedSplit("skewed", 90, 30);
      const skewed = await report(s, "skewed");
      assert.deepEqual(skewed.sampleRatio.observed, { control: 90, short: 30 });
      assert.ok((skewed.sampleRatio.pValue as number) < 1e-7, String(skewed.sampleRatio.pValue));
      assert.equal(skewed.sampleRatio.mismatch, true);
      assert.match(skewed.verdict.line, /^sample-ratio mismatch \(p = 4\.\de-8\)/);
      // No rewards, no judges: the verdict is on the error rate, 0 in both, so no sample size settles it.
      assert.equal(skewed.verdict.metric, "errorRate");
      assert.match(skewed.verdict.line, /short and control are even on errorRate so far \(120 units\)$/);

      // 62 against 58: χ² = 2 · 2²/60 = 0.1333, p = 0.715.
      await seedSplit("balanced", 62, 58);
      const balanced = await report(s, "balanced");
      assert.ok(Math.abs((balanced.sampleRatio.pValue as number) - 0.715) < 0.001);
      assert.equal(balanced.sampleRatio.mismatch, false);
      assert.doesNotMatch(balanced.verdict.line, /mismatch/);

      // A 90/30 split configured as 75/25 is what was asked for.
      await seedSplit("uneven", 0, 0);
      const weighted = await s.api("/api/experiments/uneven", {
        body: { weights: { control: 75, short: 25 }, by: "ana" },
      });
      assert.equal(weighted.status, 200, JSON.stringify(weighted.body));
      await seedCalls(s, "uneven", [
        ...Array.from({ length: 90 }, (_, i) => ({
          id: `u-c${i}`,
          variant: "control",
          unit: `userId:c${i}`,
        })),
        ...Array.from({ length: 30 }, (_, i) => ({ id: `u-s${i}`, variant: "short", unit: `userId:s${i}` })),
      ]);
      const uneven = await report(s, "uneven");
      assert.equal(uneven.sampleRatio.pValue, 1);
      assert.equal(uneven.sampleRatio.mismatch, false);
    });

    it("settles a clear difference, and says so in the verdict line", async (t) => {
      const s = server(t);
      if (!s) return;
      await createRunning(s, "clear");
      // 300 users per arm; the control fails for one in two, short for one in ten.
      const n = 300;
      await seedCalls(s, "clear", [
        ...Array.from({ length: n }, (_, i) => ({
          id: `cl-c${i}`,
          variant: "control",
          unit: `userId:c${i}`,
          outcome: i % 2 === 0 ? ("upstream_error" as const) : ("ok" as const),
        })),
        ...Array.from({ length: n }, (_, i) => ({
          id: `cl-s${i}`,
          variant: "short",
          unit: `userId:s${i}`,
          outcome: i % 10 === 0 ? ("upstream_error" as const) : ("ok" as const),
        })),
      ]);
      const r = await report(s, "clear");
      const d = r.variants[1]?.vsControl.find((x) => x.metric === "errorRate");
      assert.equal(d?.verdict, "better", JSON.stringify(d));
      assert.equal(d?.moreUnits, null);
      assert.ok(Math.abs((d?.estimate as number) + 0.4) < 1e-12);
      assert.match(
        r.verdict.line,
        /^short is better than control on errorRate \(−0\.40, 95% CS \[−0\.\d\d, −0\.\d\d\], 600 units\)$/,
      );
    });

    it("compares variants only on calls made while the experiment split traffic", async (t) => {
      const s = server(t);
      if (!s) return;
      const created = await s.api("/api/experiments", {
        body: {
          name: "phases",
          by: "ana",
          status: "shadow",
          variants: [{ name: "control" }, { name: "short", systemPrompt: "Five words." }],
        },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      // In the shadow every user got the control: those calls say nothing about the split.
      const live = async (id: string, variant: string, unit: string) => {
        const startedAt = Date.now();
        const row = toCallRow(capturedCall({ id, startedAt, endedAt: startedAt + 50 }), "full");
        await s.ctx.store.db
          .insertInto("calls")
          .values({ ...row, experiment: "phases", variant, assignmentUnit: unit })
          .execute();
      };
      for (let i = 0; i < 6; i++) await live(`early_${i}`, "control", `userId:early${i}`);
      await new Promise((r) => setTimeout(r, 5));
      const running = await s.api("/api/experiments/phases", { body: { status: "running", by: "bo" } });
      assert.equal(running.status, 200, JSON.stringify(running.body));
      await new Promise((r) => setTimeout(r, 5));
      for (let i = 0; i < 3; i++) await live(`c_${i}`, "control", `userId:c${i}`);
      for (let i = 0; i < 2; i++) await live(`s_${i}`, "short", `userId:s${i}`);
      const r = await report(s, "phases");
      const control = r.variants.find((v) => v.name === "control");
      assert.equal(control?.calls, 9, "every live call is counted as volume");
      assert.equal(control?.units, 3, "only the units of the split are compared");
      assert.equal(control?.errorRate.n, 3);
      assert.deepEqual(r.sampleRatio.observed, { control: 3, short: 2 });
    });

    it("leaves calls without an assignment unit out of the split (they were not randomised)", async (t) => {
      const s = server(t);
      if (!s) return;
      await createRunning(s, "anonymous");
      // 40 users a side, and 200 requests without a user id, which the proxy sent to the control (failing).
      await seedCalls(s, "anonymous", [
        ...Array.from({ length: 40 }, (_, i) => ({
          id: `an-c${i}`,
          variant: "control",
          unit: `userId:c${i}`,
        })),
        ...Array.from({ length: 40 }, (_, i) => ({ id: `an-s${i}`, variant: "short", unit: `userId:s${i}` })),
        ...Array.from({ length: 200 }, (_, i) => ({
          id: `an-x${i}`,
          variant: "control",
          unit: null,
          outcome: "upstream_error" as const,
        })),
      ]);
      const r = await report(s, "anonymous");
      const control = r.variants.find((v) => v.name === "control");
      assert.equal(control?.calls, 240, "every live call is volume");
      assert.equal(control?.units, 40);
      assert.equal(control?.errorRate.n, 40);
      assert.equal(control?.errorRate.estimate, 0);
      assert.deepEqual(r.sampleRatio.observed, { control: 40, short: 40 });
      assert.equal(r.sampleRatio.mismatch, false);
      assert.equal(r.variants[1]?.vsControl.find((d) => d.metric === "errorRate")?.estimate, 0);
    });

    it("checks the sample ratio against the units seen since the weights last changed", async (t) => {
      const s = server(t);
      if (!s) return;
      await createRunning(s, "reweighted");
      const live = async (id: string, variant: string, unit: string) => {
        const startedAt = Date.now();
        const row = toCallRow(capturedCall({ id, startedAt, endedAt: startedAt + 50 }), "full");
        await s.ctx.store.db
          .insertInto("calls")
          .values({ ...row, experiment: "reweighted", variant, assignmentUnit: unit })
          .execute();
      };
      // 50/50 for a while: 150 users a side.
      for (let i = 0; i < 150; i++) await live(`rw-c${i}`, "control", `userId:c${i}`);
      for (let i = 0; i < 150; i++) await live(`rw-s${i}`, "short", `userId:s${i}`);
      await new Promise((r) => setTimeout(r, 5));
      const weighted = await s.api("/api/experiments/reweighted", {
        body: { weights: { control: 90, short: 10 }, by: "ana" },
      });
      assert.equal(weighted.status, 200, JSON.stringify(weighted.body));
      await new Promise((r) => setTimeout(r, 5));
      // Then 90/10, as asked; c0..c8 come back (units seen under both shares).
      for (let i = 0; i < 90; i++) await live(`rw2-c${i}`, "control", `userId:${i < 9 ? "c" : "n"}${i}`);
      for (let i = 0; i < 10; i++) await live(`rw2-s${i}`, "short", `userId:m${i}`);
      const r = await report(s, "reweighted");
      assert.deepEqual(r.sampleRatio.observed, { control: 90, short: 10 });
      assert.equal(r.sampleRatio.pValue, 1);
      assert.equal(r.sampleRatio.mismatch, false);
      assert.equal(r.variants[0]?.units, 231, "the comparison keeps every unit of the split");

      // A skew after the change is still caught: 20 more short users make it 90/30 against 90/10.
      for (let i = 10; i < 30; i++) await live(`rw3-s${i}`, "short", `userId:m${i}`);
      const skewed = await report(s, "reweighted");
      assert.equal(skewed.sampleRatio.mismatch, true, JSON.stringify(skewed.sampleRatio));
    });

    it("answers 404 for an unknown experiment and 400 for a bad metric or alpha", async (t) => {
      const s = server(t);
      if (!s) return;
      const missing = await s.api<{ error: { message: string } }>("/api/experiments/nope/report");
      assert.equal(missing.status, 404);
      assert.match(missing.body.error.message, /no experiment named nope/);
      await createRunning(s, "asked");
      const metric = await s.api<{ error: { message: string; field?: string } }>(
        "/api/experiments/asked/report?metric=thumbs",
      );
      assert.equal(metric.status, 400);
      assert.match(metric.body.error.message, /metric/);
      const alpha = await s.api("/api/experiments/asked/report?alpha=2");
      assert.equal(alpha.status, 400);
      const empty = await report(s, "asked", "?metric=reward:thumbs");
      assert.equal(empty.verdict.metric, "reward:thumbs");
      assert.equal(
        empty.verdict.line,
        "not yet known: too few units yet to compare short with control on reward:thumbs",
      );
      assert.deepEqual(empty.sequence, []);
    });
  });
}
