/**
 * runChecks alone: built-in checks, checks written in code and judges run in the run's order, each kind where
 * it belongs, with no server (the judge is a function given to it).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CheckDef, CustomCheck, CustomCheckItem, JudgeDef } from "./checks.ts";
import { PermanentError } from "./errors.ts";
import type { JudgeResult } from "./judge.ts";
import { type ItemSubject, runChecks } from "./run-checks.ts";

const request = { model: "m", messages: [{ role: "user", content: "2+2?" }] };
const response = { choices: [{ index: 0, message: { role: "assistant", content: "4" } }] };
const subject: ItemSubject = {
  request,
  answer: "4",
  reference: "4",
  baselineAnswer: "four",
  costUsd: 0.002,
  latencyMs: 120,
  tokens: { prompt: 10, completion: 1, total: 11 },
  custom: {
    request,
    response,
    reference: "4",
    baseline: { request, response: null },
  },
};

const absolute: JudgeDef = { type: "judge", mode: "absolute", name: "quality", model: "j", scale: [1, 5] };
const pairwise: JudgeDef = { type: "judge", mode: "pairwise", name: "vs", model: "j" };

/** A judge that passes what it is given, and records which it was asked. */
function judge(): { asked: string[]; run: (def: JudgeDef) => Promise<JudgeResult> } {
  const asked: string[] = [];
  return {
    asked,
    run: async (def) => {
      asked.push(def.name);
      return def.mode === "absolute"
        ? {
            judge: {
              name: def.name,
              mode: "absolute",
              model: def.model,
              candidate: { ok: true, score: 5, reward: 1, reason: "r" },
              baseline: null,
            },
            check: { name: def.name, type: "judge", pass: true, score: 5, reason: "r" },
          }
        : {
            judge: {
              name: def.name,
              mode: "pairwise",
              model: def.model,
              baselineFirst: true,
              outcome: "tie",
            },
          };
    },
  };
}

describe("runChecks", () => {
  it("should run built-in, custom and judge checks in the order declared, one verdict each", async () => {
    const seen: CustomCheckItem[] = [];
    const short: CustomCheck = {
      name: "short",
      run: (item) => {
        seen.push(item);
        return { pass: true, score: 1, reason: "fine" };
      },
    };
    const defs: CheckDef[] = [
      pairwise,
      { type: "equals", name: "equals", against: "reference", ignoreCase: false },
      { type: "custom", name: "short" },
      absolute,
      { type: "bound", name: "cost <= 0.001", metric: "cost", op: "<=", value: 0.001 },
    ];
    const j = judge();
    const r = await runChecks(defs, subject, j.run, new Map([["short", short]]));
    assert.deepEqual(
      r.checks.map((c) => [c.name, c.type, c.pass]),
      [
        ["equals", "equals", true],
        ["short", "custom", true],
        ["quality", "judge", true],
        ["cost <= 0.001", "bound", false],
      ],
    );
    assert.deepEqual(r.checks[1], { name: "short", type: "custom", pass: true, score: 1, reason: "fine" });
    assert.deepEqual(
      r.judges.map((x) => x.name),
      ["vs", "quality"],
    );
    assert.deepEqual(j.asked, ["vs", "quality"]);
    assert.deepEqual(seen, [subject.custom]);
  });

  it("should record a custom check that throws as its own error, not the item's", async () => {
    const broken: CustomCheck = {
      name: "broken",
      run: () => {
        throw new Error("boom");
      },
    };
    const r = await runChecks(
      [{ type: "custom", name: "broken" }],
      subject,
      judge().run,
      new Map([["broken", broken]]),
    );
    assert.deepEqual(r.checks, [{ name: "broken", type: "custom", pass: null, error: "threw: boom" }]);
  });

  it("should fail the item for good when a custom check's function is not in this process", async () => {
    await assert.rejects(
      runChecks([{ type: "custom", name: "elsewhere" }], subject, judge().run),
      (err) => err instanceof PermanentError && /custom check "elsewhere" is not available/.test(err.message),
    );
  });

  it("should let a judge's failure through, for another attempt of the item", async () => {
    await assert.rejects(
      runChecks([absolute], subject, async () => {
        throw new Error("judge j failed after retries: HTTP 503");
      }),
      /HTTP 503/,
    );
  });
});
