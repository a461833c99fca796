import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isoTime, isoTimeOrNull } from "./time.ts";

describe("isoTime", () => {
  it("formats a time in range as ISO 8601", () => {
    assert.equal(isoTime(Date.UTC(2026, 11, 4, 20, 0, 0)), "2026-12-04T20:00:00.000Z");
    assert.equal(isoTime("1000"), "1970-01-01T00:00:01.000Z");
  });

  it("clamps what new Date(ms).toISOString() would throw on, instead of breaking a list", () => {
    assert.throws(() => new Date(9e15).toISOString(), RangeError);
    assert.equal(isoTime(9e15), "9999-12-31T23:59:59.999Z");
    assert.equal(isoTime(-5), "1970-01-01T00:00:00.000Z");
    assert.equal(isoTime(Number.NaN), "1970-01-01T00:00:00.000Z");
  });

  it("keeps an absent time absent", () => {
    assert.equal(isoTimeOrNull(null), null);
    assert.equal(isoTimeOrNull(undefined), null);
    assert.equal(isoTimeOrNull(0), "1970-01-01T00:00:00.000Z");
  });
});
