/**
 * The evaluation table puts a judge's agreement with people before its scores, and says when the judge is not
 * yet calibrated (fewer than 20 answers with a human label of its name).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Report, RunView } from "../evals/index.ts";
import { renderReport } from "./eval.ts";

function reportWith(n: number, agree: number): Report {
  const summary = { n: 2, mean: 0.001, p50: 0.001, p95: 0.002, total: 0.002 };
  const mean = { n: 2, mean: 3, ci: null };
  return {
    items: { total: 2, done: 2, failed: 0 },
    checks: [],
    judges: [
      {
        name: "quality",
        mode: "absolute",
        model: "gpt-4.1",
        scale: [1, 5],
        candidate: mean,
        baseline: mean,
        difference: { n: 2, mean: 0, ci: null },
        errors: 0,
        agreement: { n, agree, rate: { rate: n ? agree / n : null, ci: null }, kappa: n ? 0.5 : null },
      },
    ],
    cost: { baseline: summary, candidate: summary, judgeTotalUsd: 0 },
    latency: { baseline: summary, candidate: summary },
    worst: [],
    methods: { proportions: "", means: "", percentiles: "" },
  } as unknown as Report;
}

const render = (report: Report) =>
  renderReport({
    run: { id: "evl_c", status: "done", candidate: { model: "m" } } as RunView,
    progress: { total: 2, done: 2, failed: 0, pending: 0, running: 0 },
    report,
  });

describe("renderReport: judge calibration", () => {
  it("shows agreement first and says not yet calibrated below 20 labelled answers", () => {
    const text = render(reportWith(4, 3));
    const agreement = text.indexOf("agreement with humans");
    assert.ok(agreement > 0 && agreement < text.indexOf("candidate  "), text);
    assert.ok(agreement < text.indexOf("baseline"), text);
    assert.match(
      text,
      /judge quality: not yet calibrated: n < 20 \(4 answers with a human label of that name\)/,
    );
  });

  it("says nothing more once 20 answers are labelled", () => {
    const text = render(reportWith(20, 18));
    assert.match(text, /agreement with humans\s+│ 90\.0%/);
    assert.doesNotMatch(text, /not yet calibrated/);
  });
});
