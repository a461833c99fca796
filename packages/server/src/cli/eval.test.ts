import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import type { Report, RunView } from "../evals/index.ts";
import { parseCandidate, parseCandidates, parseJudge, renderReport } from "./eval.ts";

describe("intersebd eval flags", () => {
  it("should read the candidate's model, upstream, system prompt, headers and parameters", () => {
    assert.deepEqual(
      parseCandidate([
        "model=gpt-4.1-mini",
        "upstream=openrouter",
        "system=Be brief.",
        "header.x-fake-delay-ms=300",
        "temperature=0.2",
        "stop=END",
        'response_format={"type":"json_object"}',
      ]),
      {
        model: "gpt-4.1-mini",
        upstream: "openrouter",
        systemPrompt: "Be brief.",
        headers: { "x-fake-delay-ms": "300" },
        params: { temperature: 0.2, stop: "END", response_format: { type: "json_object" } },
      },
    );
    assert.throws(() => parseCandidate(["gpt-4.1"]), /expected key=value/);
  });

  it("should group named --candidate pairs into candidates, in the order their names appear", () => {
    assert.equal(parseCandidates(["model=gpt-4.1"]), undefined);
    assert.deepEqual(
      parseCandidates([
        "current:",
        "cheap:model=gpt-4.1-nano",
        "strong:model=gpt-4.1",
        "cheap:temperature=0",
        "strong:system=Be careful: think.",
      ]),
      [
        { name: "current" },
        { name: "cheap", model: "gpt-4.1-nano", params: { temperature: 0 } },
        { name: "strong", model: "gpt-4.1", systemPrompt: "Be careful: think." },
      ],
    );
    assert.throws(() => parseCandidates(["a:model=x", "model=y"]), /name each pair/);
  });

  it("should read --candidates from a JSON file, and refuse it beside --candidate flags", () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cands-")), "c.json");
    fs.writeFileSync(file, JSON.stringify([{ name: "a" }, { name: "b", model: "m" }]));
    assert.deepEqual(parseCandidates([], file), [{ name: "a" }, { name: "b", model: "m" }]);
    assert.throws(() => parseCandidates(["a:model=x"], file), /not both/);
    fs.writeFileSync(file, "{}");
    assert.throws(() => parseCandidates([], file), /expected a JSON array/);
  });

  it("should read a judge as mode:model[@upstream]", () => {
    assert.deepEqual(parseJudge("pairwise:gpt-4.1"), { mode: "pairwise", model: "gpt-4.1" });
    assert.deepEqual(parseJudge("absolute:openai/gpt-4.1@openrouter", "Is it short?"), {
      mode: "absolute",
      model: "openai/gpt-4.1",
      upstream: "openrouter",
      rubric: "Is it short?",
    });
    assert.throws(() => parseJudge("gpt-4.1"), /expected absolute:<model> or pairwise:<model>/);
  });
});

describe("renderReport", () => {
  it("should show pass rates with intervals, judges, cost and latency, and link the worst items", () => {
    const summary = { n: 2, mean: 0.001, p50: 0.001, p95: 0.0015, total: 0.002 };
    const report: Report = {
      items: { total: 2, done: 2, failed: 0 },
      checks: [
        {
          name: "json-schema",
          type: "json-schema",
          n: 2,
          passed: 1,
          failed: 1,
          skipped: 0,
          errors: 0,
          passRate: { rate: 0.5, ci: [0.0945, 0.9055] },
          meanScore: null,
        },
      ],
      judges: [
        {
          name: "pairwise",
          mode: "pairwise",
          model: "gpt-4.1",
          n: 2,
          wins: 1,
          ties: 0,
          losses: 1,
          win: { rate: 0.5, ci: [0.0945, 0.9055] },
          tie: { rate: 0, ci: [0, 0.6576] },
          loss: { rate: 0.5, ci: [0.0945, 0.9055] },
          score: 0.5,
          errors: 0,
        },
      ],
      cost: { baseline: summary, candidate: summary, judgeTotalUsd: 0.01 },
      latency: {
        baseline: { n: 2, mean: 100, p50: 100, p95: 150, total: 200 },
        candidate: { n: 2, mean: 80, p50: 80, p95: 90, total: 160 },
      },
      worst: [
        {
          index: 1,
          baselineCallId: "call_b",
          candidateCallId: "call_c",
          baselineUrl: "/calls/call_b",
          candidateUrl: "/calls/call_c",
          failedChecks: [{ name: "json-schema", reason: "answer is not JSON" }],
          pairwise: [{ name: "pairwise", outcome: "loss" }],
        },
      ],
      methods: { proportions: "", means: "", percentiles: "" },
    };
    const run = { id: "evl_1", status: "done", dataset: "titles", candidate: { model: "m" } } as RunView;
    const text = renderReport(
      { run, progress: { total: 2, done: 2, failed: 0, pending: 0, running: 0 }, report },
      "http://x",
    );
    assert.match(text, /evaluation evl_1: done, 2 done, 0 failed of 2 \(dataset titles\)/);
    assert.match(text, /json-schema\s+│ 50\.0%\s+│ \[9\.4%, 90\.5%\]/);
    assert.match(text, /loss\s+│ 50\.0%/);
    assert.match(text, /latency mean \/ p50 \/ p95 │ 100 ms \/ 100 ms \/ 150 ms/);
    assert.match(
      text,
      /#1 http:\/\/x\/calls\/call_c vs http:\/\/x\/calls\/call_b: json-schema \(answer is not JSON\); pairwise: loss/,
    );
  });
});
