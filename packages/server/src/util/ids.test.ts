/** Ids sort by creation: by millisecond, and within one millisecond in the order they were made. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { newId } from "./ids.ts";

describe("newId", () => {
  it("sorts ids made in one millisecond in the order they were made", () => {
    const now = Date.now() + 60_000;
    const ids = Array.from({ length: 1000 }, () => newId("x", now));
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
  });

  it("starts each millisecond at random, and an earlier time does not disturb the current one", () => {
    const now = Date.now() + 120_000;
    const a = newId("x", now);
    const old = newId("x", now - 5000);
    const b = newId("x", now);
    assert.ok(old < a, "an id for an earlier millisecond sorts before");
    assert.ok(a < b);
    const later = newId("x", now + 1);
    assert.ok(b < later);
    assert.match(later, /^x_[0-9a-hjkmnp-tv-z]{22}$/);
  });
});
