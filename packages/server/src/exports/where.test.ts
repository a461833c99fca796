import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseWhere, WhereError } from "./where.ts";

describe("parseWhere", () => {
  it("should parse each kind of condition joined with and", () => {
    assert.deepEqual(
      parseWhere(
        'reward >= 1 and helpful < 3.5 by human and source = judge and has correction and has comparison and has annotation and has "tone ok" and quality != -2',
      ),
      [
        { kind: "reward", name: "reward", op: ">=", value: 1 },
        { kind: "reward", name: "helpful", op: "<", value: 3.5, source: "human" },
        { kind: "source", source: "judge" },
        { kind: "correction" },
        { kind: "comparison" },
        { kind: "annotated" },
        { kind: "named", name: "tone ok" },
        { kind: "reward", name: "quality", op: "!=", value: -2 },
      ],
    );
  });

  it("should read keywords in any case and names with dots, dashes and colons", () => {
    assert.deepEqual(parseWhere("HAS Correction AND rubric.tone-v2:score = 0"), [
      { kind: "correction" },
      { kind: "reward", name: "rubric.tone-v2:score", op: "=", value: 0 },
    ]);
    assert.deepEqual(parseWhere("   "), []);
  });

  const errors: Array<[string, RegExp]> = [
    ["reward >= 1 or has correction", /"or" is not supported/],
    ["not has correction", /"not" is not supported/],
    ["(reward >= 1)", /parentheses are not supported/],
    ["reward >=", /expected a number/],
    ["reward >= high", /expected a number/],
    ["reward 1", /expected a comparison/],
    ["reward and has correction", /alone is not a condition/],
    ["source = robot", /expected a source/],
    ["source human", /expected "="/],
    ["reward >= 1 by", /expected a source/],
    ["reward >= 1 has correction", /expected "and"/],
    ["reward >= 1 and", /expected a condition at the end/],
    ["has", /expected what to have/],
    ["reward >= 1 ; drop table calls", /unexpected ";/],
  ];
  for (const [input, message] of errors) {
    it(`should reject ${JSON.stringify(input)} saying what was expected`, () => {
      assert.throws(
        () => parseWhere(input),
        (e: unknown) => e instanceof WhereError && message.test(e.message),
      );
    });
  }
});
