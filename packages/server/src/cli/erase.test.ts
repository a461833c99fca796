import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeCounts, erasePath } from "./erase.ts";
import { UsageError } from "./export.ts";

describe("intersebd erase", () => {
  it("takes exactly one selector and encodes it into the API path", () => {
    assert.equal(erasePath({ user: "u/42" }), "/users/u%2F42");
    assert.equal(erasePath({ session: "s1" }), "/sessions/s1");
    assert.equal(erasePath({ tag: "doc:9" }), "/tags/doc%3A9");
    assert.throws(() => erasePath({}), UsageError);
    assert.throws(() => erasePath({ user: "a", tag: "b" }), UsageError);
    assert.throws(() => erasePath({ user: "" }), UsageError);
  });
  it("shows only the kinds that are not zero", () => {
    assert.equal(describeCounts({ calls: 2, links: 0, annotations: 1 }), "calls: 2, annotations: 1");
    assert.equal(describeCounts({ calls: 0 }), "nothing");
  });
});
