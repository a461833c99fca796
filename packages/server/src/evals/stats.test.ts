import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  cohenKappa,
  hash32,
  percentile,
  seededRandom,
  summarize,
  tCdf,
  tInterval,
  tQuantile,
  wilson,
} from "./stats.ts";

const close = (actual: number | null | undefined, expected: number, tol = 5e-5) =>
  assert.ok(
    actual !== null && actual !== undefined && Math.abs(actual - expected) <= tol,
    `${actual} is not within ${tol} of ${expected}`,
  );

describe("wilson", () => {
  it("should give the published 95% interval for 8 of 10", () => {
    const ci = wilson(8, 10);
    close(ci?.[0], 0.4902);
    close(ci?.[1], 0.9433);
  });

  it("should stay inside [0, 1] at 0 of n and n of n, where the normal interval collapses", () => {
    assert.deepEqual(
      wilson(0, 10)?.map((x) => Math.round(x * 1e4) / 1e4),
      [0, 0.2775],
    );
    assert.deepEqual(
      wilson(10, 10)?.map((x) => Math.round(x * 1e4) / 1e4),
      [0.7225, 1],
    );
  });

  it("should match tabulated values for small samples", () => {
    const a = wilson(2, 5);
    close(a?.[0], 0.1176);
    close(a?.[1], 0.7693);
    const b = wilson(3, 4);
    close(b?.[0], 0.3006);
    close(b?.[1], 0.9544);
  });

  it("should have no interval for an empty sample", () => {
    assert.equal(wilson(0, 0), null);
  });
});

describe("Student's t", () => {
  it("should give the tabulated two-sided 95% and 99% critical values", () => {
    close(tQuantile(0.975, 1), 12.7062);
    close(tQuantile(0.975, 4), 2.7764);
    close(tQuantile(0.975, 10), 2.2281);
    close(tQuantile(0.975, 30), 2.0423);
    close(tQuantile(0.995, 5), 4.0321);
    close(tQuantile(0.025, 4), -2.7764);
  });

  it("should have a CDF of one half at zero and be symmetric", () => {
    close(tCdf(0, 7), 0.5, 1e-12);
    close(tCdf(1.5, 7) + tCdf(-1.5, 7), 1, 1e-12);
  });

  it("should give mean ± t·s/√n for 1..5 and need two values", () => {
    const ci = tInterval([1, 2, 3, 4, 5]);
    close(ci?.[0], 1.0368);
    close(ci?.[1], 4.9632);
    assert.equal(tInterval([3]), null);
  });
});

describe("percentile", () => {
  it("should interpolate between order statistics like R's type 7 and NumPy", () => {
    assert.equal(percentile([1000, 100, 300, 200, 400], 0.5), 300);
    close(percentile([100, 200, 300, 400, 1000], 0.95), 880, 1e-9);
    assert.equal(percentile([], 0.5), null);
    const s = summarize([100, 200, 300, 400, 1000]);
    assert.deepEqual([s.n, s.mean, s.p50, s.total], [5, 400, 300, 2000]);
    close(s.p95, 880, 1e-9);
  });
});

describe("cohenKappa", () => {
  it("should give 0.4 for the textbook 20/5/10/15 table", () => {
    const pairs = [
      ...Array.from({ length: 20 }, () => ({ a: true, b: true })),
      ...Array.from({ length: 5 }, () => ({ a: true, b: false })),
      ...Array.from({ length: 10 }, () => ({ a: false, b: true })),
      ...Array.from({ length: 15 }, () => ({ a: false, b: false })),
    ];
    close(cohenKappa(pairs), 0.4, 1e-9);
  });

  it("should be undefined when both raters always say the same thing", () => {
    assert.equal(cohenKappa([{ a: true, b: true }]), null);
  });
});

describe("seededRandom", () => {
  it("should repeat its sequence for a seed and differ between seeds", () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const xs = Array.from({ length: 5 }, () => a());
    assert.deepEqual(
      xs,
      Array.from({ length: 5 }, () => b()),
    );
    assert.notDeepEqual(xs[0], seededRandom(43)());
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    assert.equal(hash32("a"), 0xe40c292c);
  });
});
