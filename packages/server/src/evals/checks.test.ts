import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { HttpError } from "../http/error.ts";
import {
  answerText,
  type CheckDef,
  type CheckSubject,
  loadChecksFile,
  normalizeChecks,
  parseShorthand,
  runBuiltinCheck,
} from "./checks.ts";

const titleSchema = {
  type: "object",
  properties: { title: { type: "string", maxLength: 20 } },
  required: ["title"],
  additionalProperties: false,
};

function subject(over: Partial<CheckSubject> = {}): CheckSubject {
  return {
    request: {
      model: "m",
      messages: [{ role: "user", content: "hi" }],
      response_format: { type: "json_schema", json_schema: { name: "t", schema: titleSchema } },
    },
    answer: '{"title":"Short"}',
    reference: null,
    baselineAnswer: "logged answer",
    costUsd: 0.004,
    latencyMs: 1500,
    tokens: { prompt: 100, completion: 400, total: 500 },
    ...over,
  };
}

const one = (spec: unknown): CheckDef => normalizeChecks([spec])[0] as CheckDef;
const run = (spec: unknown, over: Partial<CheckSubject> = {}) => runBuiltinCheck(one(spec), subject(over));

describe("json-schema check", () => {
  it("should pass an answer that matches the request's response_format schema", () => {
    assert.equal(run("json-schema").pass, true);
  });

  it("should fail an answer that breaks the schema, and say where", () => {
    const r = run("json-schema", { answer: '{"title":"A title far longer than twenty"}' });
    assert.equal(r.pass, false);
    assert.match(r.reason ?? "", /answer\/title must NOT have more than 20 characters/);
  });

  it("should fail an answer that is not JSON", () => {
    const r = run("json-schema", { answer: "Short" });
    assert.equal(r.pass, false);
    assert.match(r.reason ?? "", /not JSON/);
  });

  it("should use a given schema over the request's", () => {
    const spec = { type: "json-schema", schema: { type: "object", required: ["echo"] } };
    assert.equal(run(spec).pass, false);
    assert.equal(run(spec, { answer: '{"echo":"x"}' }).pass, true);
  });

  it("should not apply when there is no schema anywhere", () => {
    const r = run("json-schema", { request: { messages: [] } });
    assert.equal(r.pass, null);
    assert.match(r.reason ?? "", /no schema/);
  });
});

describe("regex check", () => {
  it("should pass when the pattern matches the answer and fail when it does not", () => {
    assert.equal(run("regex:^\\{").pass, true);
    const r = run("regex:^\\{", { answer: "Sure! {...}" });
    assert.equal(r.pass, false);
    assert.match(r.reason ?? "", /does not match/);
  });

  it("should honour flags", () => {
    assert.equal(run({ type: "regex", pattern: "^SHORT", flags: "i" }, { answer: "short" }).pass, true);
  });
});

describe("equals and contains checks", () => {
  it("should compare with the human correction, trimmed", () => {
    assert.equal(run("equals", { answer: " Paris ", reference: "Paris" }).pass, true);
    assert.equal(run("equals", { answer: "paris", reference: "Paris" }).pass, false);
    assert.equal(
      run({ type: "equals", ignoreCase: true }, { answer: "paris", reference: "Paris" }).pass,
      true,
    );
  });

  it("should find the reference inside the answer", () => {
    assert.equal(run("contains", { answer: "The capital is Paris.", reference: "Paris" }).pass, true);
    assert.equal(run("contains", { answer: "The capital is Lyon.", reference: "Paris" }).pass, false);
  });

  it("should not apply without a correction, and compare with the logged answer when asked", () => {
    const r = run("equals", { reference: null });
    assert.equal(r.pass, null);
    assert.match(r.reason ?? "", /no correction/);
    assert.equal(run("equals:baseline", { answer: "logged answer" }).pass, true);
    assert.equal(run("contains:baseline", { answer: "other" }).pass, false);
  });
});

describe("bound checks", () => {
  it("should pass and fail on cost, latency and tokens", () => {
    assert.equal(run("cost <= 0.01").pass, true);
    assert.equal(run("cost <= 0.001").pass, false);
    assert.equal(run("latencyMs <= 2000").pass, true);
    assert.equal(run("latencyMs <= 2000", { latencyMs: 2500 }).pass, false);
    assert.equal(run("tokens.completion <= 500").pass, true);
    const r = run("tokens.completion < 400");
    assert.equal(r.pass, false);
    assert.equal(r.reason, "tokens.completion = 400, not < 400");
    assert.equal(run("tokens.total == 500").pass, true);
    assert.equal(run("tokens.prompt > 100").pass, false);
  });

  it("should not apply when the cost is unknown", () => {
    assert.equal(run("cost <= 0.01", { costUsd: null }).pass, null);
  });
});

describe("check declarations", () => {
  it("should parse shorthands and name checks readably", () => {
    assert.deepEqual(parseShorthand("cost <= 0.01"), {
      type: "bound",
      metric: "cost",
      op: "<=",
      value: 0.01,
    });
    assert.deepEqual(parseShorthand("regex:^\\{"), { type: "regex", pattern: "^\\{" });
    assert.equal(parseShorthand("judge me"), undefined);
    assert.deepEqual(
      normalizeChecks([
        "json-schema",
        "tokens.completion<=500",
        { type: "judge", mode: "pairwise", model: "j" },
      ]).map((c) => c.name),
      ["json-schema", "tokens.completion <= 500", "pairwise"],
    );
  });

  it("should reject bad declarations naming the field", () => {
    const field = (input: unknown[]) => {
      try {
        normalizeChecks(input);
      } catch (err) {
        assert.ok(err instanceof HttpError);
        assert.equal(err.status, 400);
        return err.field;
      }
      assert.fail("no error");
    };
    assert.equal(field(["json-schema", { type: "regex", pattern: "(" }]), "checks[1].pattern");
    assert.equal(field([{ type: "bound", metric: "speed", op: "<", value: 1 }]), "checks[0].metric");
    assert.equal(field([{ type: "nope" }]), "checks[0].type");
    assert.equal(field(["cost <= cheap"]), "checks[0]");
    assert.equal(field(["equals", "equals"]), "checks[1].name");
    assert.equal(field([{ type: "json-schema", schema: { type: "strin" } }]), "checks[0].schema");
    assert.equal(field([{ type: "judge", mode: "absolute", model: "j", scale: [5, 1] }]), "checks[0].scale");
    assert.equal(field([{ type: "custom", name: "mine" }]), "checks[0].type");
  });

  it("should read named checks from a checks file and let others refer to them", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "intersebd-checks-"));
    const file = path.join(dir, "checks.json");
    fs.writeFileSync(
      file,
      JSON.stringify({
        checks: [{ type: "regex", name: "starts-with-brace", pattern: "^\\{" }, "cost <= 0.01"],
      }),
    );
    const declared = loadChecksFile(file);
    assert.deepEqual([...declared.keys()], ["starts-with-brace", "cost <= 0.01"]);
    const [def] = normalizeChecks(["starts-with-brace"], { declared });
    assert.equal(def?.type, "regex");
    fs.writeFileSync(file, JSON.stringify([{ type: "regex", pattern: "(" }]));
    assert.throws(() => loadChecksFile(file), /checks file .*checks\[0\]\.pattern/);
    fs.rmSync(dir, { recursive: true });
  });
});

describe("answerText", () => {
  it("should read content, content parts, and tool calls when there is no text", () => {
    assert.equal(answerText({ role: "assistant", content: "hi" }), "hi");
    assert.equal(
      answerText({ role: "assistant", content: [{ type: "text", text: "a" }, { text: "b" }] }),
      "ab",
    );
    assert.match(
      answerText({ role: "assistant", content: null, tool_calls: [{ id: "x" }] }) ?? "",
      /"id":"x"/,
    );
    assert.equal(answerText("correction text"), "correction text");
    assert.equal(answerText(null), null);
  });
});
