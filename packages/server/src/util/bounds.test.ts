import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HttpError } from "../http/error.ts";
import {
  boundedNumber,
  jsonDepth,
  jsonObject,
  jsonProblem,
  jsonValue,
  MAX_JSON_BYTES,
  MAX_TIME_MS,
  queryNumber,
  queryTimestamp,
  text,
  timestamp,
} from "./bounds.ts";
import { decodeCursor, encodeCursor } from "./cursor.ts";

const nested = (n: number): unknown => JSON.parse(`${"[".repeat(n)}${"]".repeat(n)}`);

describe("text", () => {
  it("should bound the length, refuse NUL and word messages with the field's name", () => {
    const tag = text(5, { min: 1, trim: true, what: "tag" });
    assert.equal(tag.parse("  ab "), "ab");
    assert.equal(tag.safeParse("   ").error?.issues[0]?.message, "tag must not be empty");
    assert.equal(tag.safeParse("abcdef").error?.issues[0]?.message, "tag is longer than 5 characters");
    assert.equal(tag.safeParse("a\u0000").error?.issues[0]?.message, "tag must not contain NUL characters");
    assert.equal(tag.safeParse(5).error?.issues[0]?.message, "tag must be a string");
    assert.equal(text(10).parse(""), "");
  });
});

describe("timestamp", () => {
  it("should take ms or ISO 8601 from 1970 to the end of 9999, and nothing else", () => {
    const t = timestamp("startedAt");
    assert.equal(t.parse(0), 0);
    assert.equal(t.parse("2025-01-31T12:00:00+01:00"), Date.parse("2025-01-31T11:00:00Z"));
    assert.equal(t.parse(MAX_TIME_MS), MAX_TIME_MS);
    assert.equal(new Date(MAX_TIME_MS).toISOString(), "9999-12-31T23:59:59.999Z");
    for (const bad of [
      9e15,
      MAX_TIME_MS + 1,
      -1,
      1.5,
      Number.NaN,
      "yesterday",
      "2025-01-31",
      "1969-12-31T23:59:59Z",
    ]) {
      const r = t.safeParse(bad);
      assert.equal(r.success, false, String(bad));
      assert.match(String(r.error?.issues[0]?.message), /^startedAt must be ms since epoch or an ISO 8601/);
    }
  });

  it("should read query strings and JSON filters alike", () => {
    const q = queryTimestamp("from");
    assert.equal(q.parse("1700000000000"), 1_700_000_000_000);
    assert.equal(q.parse(1_700_000_000_000), 1_700_000_000_000);
    assert.equal(q.parse("2025-01-01T00:00:00Z"), Date.parse("2025-01-01T00:00:00Z"));
    for (const bad of ["9000000000000000", "-5", "1e3", "", "abc", 9e15])
      assert.equal(q.safeParse(bad).success, false, String(bad));
  });
});

describe("numbers", () => {
  it("should be finite and within ±1e12", () => {
    const n = boundedNumber("numericReward");
    assert.equal(n.parse(-1e12), -1e12);
    for (const bad of [1.7e308, Number.POSITIVE_INFINITY, Number.NaN, 1e12 + 1, "1"])
      assert.equal(n.safeParse(bad).success, false, String(bad));
    assert.equal(queryNumber("minReward").parse("0.5"), 0.5);
    for (const bad of ["1e300", "NaN", "abc", " "])
      assert.equal(queryNumber().safeParse(bad).success, false, bad);
  });
});

describe("JSON values", () => {
  it("should find NUL in strings and keys, non-finite numbers and excess depth, with the path", () => {
    assert.equal(jsonProblem({ a: [1, "x", { b: null }] }), undefined);
    assert.deepEqual(jsonProblem({ a: [1, { b: "x\u0000" }] }), {
      path: ["a", 1, "b"],
      message: "must not contain NUL characters",
    });
    assert.deepEqual(jsonProblem({ a: { "k\u0000": 1 } })?.path, ["a"]);
    assert.deepEqual(jsonProblem([Number.POSITIVE_INFINITY])?.path, [0]);
    assert.equal(jsonProblem(nested(64)), undefined);
    assert.match(String(jsonProblem(nested(65))?.message), /nested more than 64 levels/);
    // 100,000 levels: measured without recursion, so no stack overflow.
    assert.match(String(jsonProblem(nested(100_000))?.message), /nested more than 64 levels/);
  });

  it("should measure depth without recursion", () => {
    assert.equal(jsonDepth(1), 0);
    assert.equal(jsonDepth({ a: [1, [2]], b: {} }), 3);
    assert.equal(jsonDepth(nested(100_000)), 100_000);
  });

  it("should bound the serialised size unless told not to", () => {
    const big = { pad: "€".repeat(MAX_JSON_BYTES / 3 + 10) };
    assert.match(String(jsonObject().safeParse(big).error?.issues[0]?.message), /larger than/);
    assert.equal(jsonObject({ maxBytes: null }).safeParse(big).success, true);
    assert.equal(jsonValue().safeParse(undefined).success, true);
    assert.equal(jsonObject().safeParse([1]).success, false);
  });
});

describe("cursors", () => {
  it("should decode what was encoded and refuse out-of-range times or NUL ids with a 400 naming cursor", () => {
    assert.deepEqual(decodeCursor(encodeCursor(1_700_000_000_000, "call_1")), {
      t: 1_700_000_000_000,
      id: "call_1",
    });
    for (const [t, id] of [
      [9e15, "x"],
      [-1, "x"],
      [1.5, "x"],
      [1, "a\u0000"],
      [1, "x".repeat(1001)],
    ] as const) {
      assert.throws(
        () => decodeCursor(encodeCursor(t, id)),
        (err) => err instanceof HttpError && err.status === 400 && err.field === "cursor",
        `${t} ${id.slice(0, 10)}`,
      );
    }
  });
});
