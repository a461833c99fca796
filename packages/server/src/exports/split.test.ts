import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { histogram } from "./datasets.ts";
import { groupKeyOf, partOf, SeenSet } from "./split.ts";

describe("partOf", () => {
  it("should put a key on the same side every time and about the asked fraction on validation", () => {
    let validation = 0;
    for (let i = 0; i < 20_000; i++) {
      const p = partOf(`session:${i}`, 0.1);
      assert.equal(partOf(`session:${i}`, 0.1), p);
      if (p === "validation") validation++;
    }
    assert.ok(validation > 1700 && validation < 2300, `${validation} of 20000 on validation`);
    assert.equal(partOf("session:x", 0), "train");
    assert.equal(partOf("session:x", 1), "validation");
  });

  it("should keep a split stable as the fraction grows: validation only gains groups", () => {
    for (let i = 0; i < 2000; i++) {
      if (partOf(`k${i}`, 0.1) === "validation") assert.equal(partOf(`k${i}`, 0.2), "validation");
    }
  });
});

describe("groupKeyOf", () => {
  it("should group by session, user or call, and fall back to the call", () => {
    const c = { id: "c1", sessionId: "s1", userId: "u1" };
    assert.equal(groupKeyOf(c, "session"), "session:s1");
    assert.equal(groupKeyOf(c, "user"), "user:u1");
    assert.equal(groupKeyOf(c, "call"), "call:c1");
    assert.equal(groupKeyOf({ id: "c2", sessionId: null, userId: null }, "session"), "call:c2");
  });
});

describe("SeenSet", () => {
  it("should report repeats and nothing else across growth", () => {
    const seen = new SeenSet();
    try {
      for (let i = 0; i < 50_000; i++) assert.equal(seen.add(`row ${i}`), true, `row ${i} is new`);
      for (let i = 0; i < 50_000; i += 7) assert.equal(seen.add(`row ${i}`), false, `row ${i} was seen`);
      assert.equal(seen.size, 50_000);
    } finally {
      seen.close();
    }
  });

  it("should keep its hashes in a scratch file that close() deletes", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "seen-test-"));
    const seen = new SeenSet(tmp);
    seen.add("a row");
    const [dir] = fs.readdirSync(tmp);
    assert.ok(
      dir && fs.existsSync(path.join(tmp, dir, "seen.sqlite")),
      "the scratch file exists while in use",
    );
    seen.close();
    seen.close();
    assert.deepEqual(fs.readdirSync(tmp), [], "nothing is left behind");
    fs.rmSync(tmp, { recursive: true });
  });
});

describe("histogram", () => {
  it("should make round equal-width buckets over the range, empty ones included", () => {
    assert.deepEqual(
      histogram([
        { value: 0, count: 3 },
        { value: 0.3, count: 1 },
        { value: 1, count: 2 },
      ]).filter((b) => b.count > 0),
      [
        { bucket: 0, count: 3 },
        { bucket: 0.3, count: 1 },
        { bucket: 1, count: 2 },
      ],
    );
    assert.equal(
      histogram([
        { value: 0, count: 1 },
        { value: 1, count: 1 },
      ]).length,
      11,
    );
    assert.deepEqual(
      histogram([
        { value: -10, count: 1 },
        { value: 35, count: 4 },
      ]).map((b) => b.bucket),
      [-10, -5, 0, 5, 10, 15, 20, 25, 30, 35],
    );
    assert.deepEqual(histogram([{ value: 4, count: 2 }]), [{ bucket: 4, count: 2 }]);
    assert.deepEqual(histogram([]), []);
  });
});
