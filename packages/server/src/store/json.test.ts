import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readJson, readJsonObject, readStringArray } from "./json.ts";

describe("JSON column readers", () => {
  const cases: Array<[string, () => unknown, unknown]> = [
    ["reads a value", () => readJson('{"a":[1,"x"]}'), { a: [1, "x"] }],
    ["reads JSON null and scalars as they are", () => readJson("3"), 3],
    ["reads a null column as null", () => readJson(null), null],
    ["reads an empty column as null", () => readJson(""), null],
    ["reads text that does not parse as { _raw }", () => readJson("{oops"), { _raw: "{oops" }],
    ["reads an object", () => readJsonObject('{"model":"m"}'), { model: "m" }],
    ["reads a null object column as null", () => readJsonObject(null), null],
    ["reads a body that does not parse as { _raw }", () => readJsonObject("not json"), { _raw: "not json" }],
    ["reads an array where an object belongs as { _raw }", () => readJsonObject("[1]"), { _raw: "[1]" }],
    ["reads tags", () => readStringArray('["a","b"]'), ["a", "b"]],
    ["reads only the strings of tags", () => readStringArray('["a",1,null]'), ["a"]],
    ["reads tags that do not parse as none", () => readStringArray("[oops"), []],
    ["reads a null tags column as none", () => readStringArray(null), []],
  ];
  for (const [name, read, want] of cases) it(name, () => assert.deepEqual(read(), want));

  it("shortens the _raw of a long text that does not parse", () => {
    const raw = readJsonObject(`x${"y".repeat(70_000)}`)?._raw;
    assert.equal(typeof raw, "string");
    assert.equal((raw as string).length, 65537);
    assert.ok((raw as string).endsWith("…"));
  });
});
