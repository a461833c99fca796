import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { clip } from "./clip.ts";

describe("clip", () => {
  const cases: Array<[string, string, number, string]> = [
    ["leaves text of the length alone", "abc", 3, "abc"],
    ["leaves shorter text alone", "ab", 3, "ab"],
    ["cuts longer text and marks the cut", "abcdef", 3, "abc…"],
    ["counts a pair of surrogates as one character", "😀😀😀", 2, "😀😀…"],
    ["never cuts between the halves of a pair", "a😀b", 2, "a😀…"],
    ["leaves text whose code points fit alone", "😀😀", 2, "😀😀"],
    ["cuts empty to empty", "", 0, ""],
  ];
  for (const [name, s, max, want] of cases) it(name, () => assert.equal(clip(s, max), want));

  it("hands the marker how many UTF-16 units were cut", () => {
    assert.equal(
      clip("abcdef", 2, (n) => ` [${n} cut]`),
      "ab [4 cut]",
    );
  });

  it("returns a well-formed string whatever the cut", () => {
    const s = "😀".repeat(50);
    for (let n = 0; n < 60; n++) assert.ok(clip(s, n).isWellFormed(), `cut at ${n}`);
  });
});
