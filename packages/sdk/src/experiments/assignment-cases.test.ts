/**
 * The shared assignment table (assignment-cases.json, written by scripts/assignment-cases.ts) against the kernel:
 * every row's bucket and every allocation's variants. The Python SDK's tests read the same file
 * (packages/python/tests/test_variant.py), so the two SDKs and the server's proxy agree unit by unit.
 *
 * Checked by hand, so the table is not only the kernel agreeing with itself:
 *   FNV-1a 32 of "a" (one byte, 0x61): offset basis 0x811c9dc5 XOR 0x61 = 0x811c9da4; times the prime 0x01000193
 *   = 0x811c9da4 * 0x193 + (0x811c9da4 << 24) = 0xcb_400c292c + 0x811c9d_a4000000, whose low 32 bits are
 *   0x400c292c + 0xa4000000 = 0xe40c292c (the published FNV-1a test vector for "a").
 *   The empty string hashes to the offset basis 0x811c9dc5 (2166136261).
 *   bucketOf("t", "s", "u1"): fnv1a32("t:s:u1") = 1693396360; fnv1a32("1693396360") = 15347455; % 10000 = 7455
 *   (computed with a five-line Python loop over the bytes, independent of this code).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { assignVariant, BUCKETS, type BucketRange, bucketOf, fnv1a32 } from "./index.ts";

interface Table {
  buckets: number;
  rows: Array<{ experiment: string; salt: string; unit: string; bucket: number }>;
  allocations: Array<{
    experiment: string;
    salt: string;
    allocation: BucketRange[];
    cases: Array<{ unit: string; variant: string | null }>;
  }>;
}

const table = JSON.parse(
  fs.readFileSync(path.join(import.meta.dirname, "assignment-cases.json"), "utf8"),
) as Table;

describe("the shared assignment table", () => {
  it("holds a few hundred rows with the awkward units it promises", () => {
    assert.equal(table.buckets, BUCKETS);
    assert.ok(table.rows.length >= 300, `${table.rows.length} rows`);
    const units = new Set(table.rows.map((r) => r.unit));
    for (const u of ["", " ", "007", "7", "1e3", "josé", "😀", "用户-17", "bad\ud800id"])
      assert.ok(units.has(u), u);
    assert.ok(
      [...units].some((u) => u.length >= 500),
      "a long id",
    );
    assert.ok(table.allocations.length >= 3);
  });

  it("matches the hand-computed values", () => {
    assert.equal(fnv1a32("a"), 0xe40c292c);
    assert.equal(fnv1a32(""), 0x811c9dc5);
    assert.equal(fnv1a32("t:s:u1"), 1693396360);
    assert.equal(fnv1a32("1693396360"), 15347455);
    assert.equal(bucketOf("t", "s", "u1"), 7455);
  });

  it("gives every row its bucket", () => {
    const wrong = table.rows.filter((r) => bucketOf(r.experiment, r.salt, r.unit) !== r.bucket);
    assert.deepEqual(wrong, []);
  });

  it("gives every unit of every allocation its variant", () => {
    for (const a of table.allocations) {
      const e = { name: a.experiment, salt: a.salt, allocation: a.allocation };
      const got = a.cases.map((c) => ({ unit: c.unit, variant: assignVariant(e, c.unit) ?? null }));
      assert.deepEqual(got, a.cases, `${a.experiment}/${a.salt}`);
      // Every variant of the allocation shows up, so the cases do test the ranges.
      const seen = new Set(a.cases.map((c) => c.variant));
      for (const r of a.allocation)
        assert.ok(seen.has(r.variant), `${a.experiment}: ${r.variant} never drawn`);
    }
  });

  it("hashes a lone surrogate as U+FFFD, as TextEncoder does (the Python kernel replaces it the same way)", () => {
    assert.equal(bucketOf("titles", "titles", "bad\ud800id"), bucketOf("titles", "titles", "bad\ufffdid"));
  });
});
