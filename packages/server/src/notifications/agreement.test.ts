/**
 * Agreement statistics against published worked examples: Krippendorff (2011), "Computing Krippendorff's
 * Alpha-Reliability" (sections A, B and C: α = 0.095, 0.692 and, with four observers and missing data,
 * nominal 0.743, ordinal 0.815, interval 0.849), and Cohen's kappa's textbook 2×2 table (50 items, 20/5/10/15:
 * pₒ = 0.70, pₑ = 0.50, κ = 0.40) with the pair that shows equal agreement giving unequal kappas.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  alphaEstimate,
  bootstrap,
  cohenKappa,
  kappaEstimate,
  krippendorffAlpha,
  type Rating,
} from "./agreement.ts";

const near = (actual: number | null, expected: number, digits = 3) => {
  assert.ok(actual !== null, `expected ${expected}, got null`);
  assert.equal(Number(actual.toFixed(digits)), expected, `${actual} ≈ ${expected}`);
};

/** A 2×2 table as two raters' answers: yes/yes, yes/no, no/yes, no/no counts. */
function table(yy: number, yn: number, ny: number, nn: number): [Rating[], Rating[]] {
  const a: Rating[] = [];
  const b: Rating[] = [];
  const add = (n: number, x: string, y: string) => {
    for (let i = 0; i < n; i++) {
      a.push(x);
      b.push(y);
    }
  };
  add(yy, "yes", "yes");
  add(yn, "yes", "no");
  add(ny, "no", "yes");
  add(nn, "no", "no");
  return [a, b];
}

// Krippendorff 2011, section C: four observers, twelve units, values 1–5, missing answers as null.
const _ = null;
const C: Rating[][] = [
  [1, 1, _, 1],
  [2, 2, 3, 2],
  [3, 3, 3, 3],
  [3, 3, 3, 3],
  [2, 2, 2, 2],
  [1, 2, 3, 4],
  [4, 4, 4, 4],
  [1, 1, 2, 1],
  [2, 2, 2, 2],
  [_, 5, 5, 5],
  [_, _, 1, 1],
  [_, 3, _, _],
];

describe("Krippendorff's alpha (Krippendorff 2011's worked examples)", () => {
  it("A: binary data, two observers, no missing data: α = 0.095", () => {
    const a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0];
    const b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0];
    near(
      krippendorffAlpha(
        a.map((x, i) => [x, b[i] as number]),
        "nominal",
      ),
      0.095,
    );
    // Booleans are categories like any other.
    near(
      krippendorffAlpha(
        a.map((x, i) => [x === 1, b[i] === 1]),
        "nominal",
      ),
      0.095,
    );
  });

  it("B: nominal data, two observers, no missing data: α = 0.692", () => {
    const a = "aabbdcccedda".split("");
    const b = "babbbccceddd".split("");
    near(
      krippendorffAlpha(
        a.map((x, i) => [x, b[i] as string]),
        "nominal",
      ),
      0.692,
    );
  });

  it("C: four observers, missing data: nominal 0.743, ordinal 0.815, interval 0.849", () => {
    near(krippendorffAlpha(C, "nominal"), 0.743);
    near(krippendorffAlpha(C, "ordinal"), 0.815);
    near(krippendorffAlpha(C, "interval"), 0.849);
    // The unit with a single answer is not pairable: dropping it changes nothing.
    near(krippendorffAlpha(C.slice(0, 11), "nominal"), 0.743);
  });

  it("is 1 for perfect agreement, null when every answer is the same or nothing is pairable", () => {
    assert.equal(
      krippendorffAlpha(
        [
          ["a", "a"],
          ["b", "b", "b"],
        ],
        "nominal",
      ),
      1,
    );
    assert.equal(
      krippendorffAlpha(
        [
          [3, 3],
          [3, 3],
        ],
        "interval",
      ),
      null,
    );
    assert.equal(krippendorffAlpha([[1], [2, null]], "nominal"), null);
    assert.equal(krippendorffAlpha([], "nominal"), null);
  });

  it("refuses a category where a number is needed", () => {
    assert.throws(() => krippendorffAlpha([["good", "bad"]], "interval"), /interval agreement needs numbers/);
  });
});

describe("Cohen's kappa (textbook tables)", () => {
  it("20/5/10/15 of 50: pₒ 0.70, pₑ 0.50, κ = 0.40", () => {
    const [a, b] = table(20, 5, 10, 15);
    near(cohenKappa(a, b), 0.4);
  });

  it("equal agreement (60%), unequal kappas: 45/15/25/15 → 0.1304, 25/35/5/35 → 0.2593", () => {
    near(cohenKappa(...table(45, 15, 25, 15)), 0.1304, 4);
    near(cohenKappa(...table(25, 35, 5, 35)), 0.2593, 4);
  });

  it("uses only items both answered; null when chance agreement is 1", () => {
    const [a, b] = table(20, 5, 10, 15);
    near(cohenKappa([...a, "yes", null], [...b, null, "no"]), 0.4);
    assert.equal(cohenKappa(["x", "x", "x"], ["x", "x", "x"]), null);
    assert.equal(cohenKappa(["x"], ["y"]), null);
  });
});

describe("bootstrap intervals", () => {
  it("are seeded: the same data and seed give the same interval, around the estimate", () => {
    const first = alphaEstimate(C, "interval", "queue-1:score");
    const again = alphaEstimate(C, "interval", "queue-1:score");
    assert.deepEqual(first, again);
    assert.equal(first.items, 11);
    assert.ok(first.interval && first.value !== null);
    assert.ok(first.interval.lo <= first.value && first.value <= first.interval.hi, JSON.stringify(first));
    assert.ok(first.interval.hi <= 1 && first.interval.lo < first.interval.hi);
    const other = alphaEstimate(C, "interval", "queue-2:score");
    assert.notDeepEqual(other.interval, first.interval, "another seed, other replicates");
  });

  it("narrows with more items", () => {
    const [a, b] = table(20, 5, 10, 15);
    const pairs = a.map((x, i) => [x, b[i] as Rating] as const);
    const small = kappaEstimate(pairs, "s");
    const big = kappaEstimate([...pairs, ...pairs, ...pairs, ...pairs], "s");
    assert.equal(small.items, 50);
    near(small.value, 0.4);
    near(big.value, 0.4);
    assert.ok(small.interval && big.interval);
    assert.ok(big.interval.hi - big.interval.lo < small.interval.hi - small.interval.lo);
  });

  it("gives no interval without a value or with a single item", () => {
    assert.deepEqual(
      bootstrap([1], () => 0.5, "x"),
      { value: 0.5, interval: null },
    );
    assert.deepEqual(
      bootstrap([1, 2, 3], () => null, "x"),
      { value: null, interval: null },
    );
  });
});
