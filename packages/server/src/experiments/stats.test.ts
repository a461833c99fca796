import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { seededRandom, Z95 } from "../evals/stats.ts";
import {
  chiSquareGoodnessOfFit,
  clip,
  csMargin,
  differenceCS,
  type Estimate,
  type Moments,
  meanCS,
  moments,
  momentsOfSums,
  moreUnitsForDifference,
  moreUnitsForMean,
  optimalRho2,
  withRateFloor,
} from "./stats.ts";

const close = (actual: number | null, expected: number, tol = 1e-5) =>
  assert.ok(
    actual !== null && Math.abs(actual - expected) <= tol,
    `expected ${expected} ± ${tol}, got ${actual}`,
  );

describe("confidence sequence arithmetic", () => {
  it("should compute the unit-variance margin as the paper writes it", () => {
    // t = 100, ρ² = 0.01, α = 0.05: tρ² + 1 = 2; t²ρ² = 100; 2·2/100 = 0.04;
    // ln(√2 / 0.05) = ln(28.284271) = 3.342357; 0.04 · 3.342357 = 0.133694; √0.133694 = 0.365639.
    close(csMargin(100, 0.01, 0.05), 0.365639);
  });

  it("should give the mean's sequence as mean ± sd · margin", () => {
    // [1..5]: mean 3, variance 10/4 = 2.5, sd 1.581139. t = 5, ρ² = 0.01: tρ² + 1 = 1.05; t²ρ² = 0.25;
    // 2·1.05/0.25 = 8.4; ln(√1.05 / 0.05) = ln(20.493902) = 3.020129; 8.4 · 3.020129 = 25.369084;
    // √25.369084 = 5.036773; half-width 1.581139 · 5.036773 = 7.963840.
    const cs = meanCS(moments([1, 2, 3, 4, 5]), { rho2: 0.01, alpha: 0.05 });
    assert.equal(cs.n, 5);
    close(cs.estimate, 3);
    close(cs.low, 3 - 7.96384, 1e-4);
    close(cs.high, 3 + 7.96384, 1e-4);
  });

  it("should put the two-sample variance in place of σ²/t, with t = n₁ + n₂", () => {
    // treatment [1,2,3,4]: mean 2.5, variance 5/3; control [0,1,1,2]: mean 1, variance 2/3.
    // V = (5/3)/4 + (2/3)/4 = 0.583333; t = 8; σ_eff = √(8 · 0.583333) = √4.666667 = 2.160247.
    // margin(8): tρ² + 1 = 1.08; t²ρ² = 0.64; 2·1.08/0.64 = 3.375; ln(√1.08 / 0.05) = ln(20.784610) = 3.034293;
    // 3.375 · 3.034293 = 10.240739; √ = 3.200115; half-width 2.160247 · 3.200115 = 6.913039.
    const d = differenceCS(moments([1, 2, 3, 4]), moments([0, 1, 1, 2]), { rho2: 0.01 });
    assert.equal(d.n, 8);
    close(d.estimate, 1.5);
    close(d.low, 1.5 - 6.913039, 1e-4);
    close(d.high, 1.5 + 6.913039, 1e-4);
  });

  it("should leave the bounds empty below two units per arm", () => {
    assert.deepEqual(meanCS(moments([])), { n: 0, estimate: null, low: null, high: null });
    assert.deepEqual(meanCS(moments([0.7])), { n: 1, estimate: 0.7, low: null, high: null });
    assert.deepEqual(differenceCS(moments([1]), moments([0, 1])), {
      n: 3,
      estimate: 0.5,
      low: null,
      high: null,
    });
    assert.deepEqual(differenceCS(moments([]), moments([0, 1])), {
      n: 2,
      estimate: null,
      low: null,
      high: null,
    });
  });

  it("should give a rate without spread a floor variance, and cut intervals to the parameter's range", () => {
    // 0 of 5: p̃ = (0 + 0.5) / (5 + 1) = 0.083333; p̃(1 − p̃) = 0.083333 · 0.916667 = 0.076389.
    close(withRateFloor(moments([0, 0, 0, 0, 0])).variance, 0.076389);
    // 5 of 5: p̃ = 5.5/6 = 0.916667, the same variance.
    close(withRateFloor(moments([1, 1, 1, 1, 1])).variance, 0.076389);
    // A sample with spread keeps its own variance, and one value has none to floor.
    assert.deepEqual(withRateFloor(moments([0, 1])), moments([0, 1]));
    assert.deepEqual(withRateFloor(moments([1])), moments([1]));
    assert.deepEqual(clip({ n: 3, estimate: 0.1, low: -0.4, high: 1.2 }, 0, 1), {
      n: 3,
      estimate: 0.1,
      low: 0,
      high: 1,
    });
    assert.deepEqual(clip({ n: 1, estimate: 0.1, low: null, high: null }, 0, 1), {
      n: 1,
      estimate: 0.1,
      low: null,
      high: null,
    });
  });

  it("should tune ρ² to the narrowest margin at t*, near the paper's closed-form approximation", () => {
    const alpha = 0.05;
    const rho2 = optimalRho2(1000, alpha);
    const at = (r: number) => csMargin(1000, r, alpha);
    assert.ok(at(rho2) < at(rho2 * 1.1) && at(rho2) < at(rho2 / 1.1), "a minimum");
    // (−2 ln α + ln(−2 ln α + 1)) / t* = (5.991465 + ln 6.991465) / 1000 = (5.991465 + 1.944691) / 1000 = 0.007936
    const approx = (-2 * Math.log(alpha) + Math.log(-2 * Math.log(alpha) + 1)) / 1000;
    close(approx, 0.007936, 1e-6);
    assert.ok(Math.abs(rho2 / approx - 1) < 0.05, `ρ² ${rho2} within 5% of ${approx}`);
  });

  it("should say how many more units make the interval narrower than the difference", () => {
    const t = moments([0, 1, 0, 1, 1, 0, 1, 1, 0, 1]);
    const c = moments([0, 1, 0, 0, 1, 0, 1, 0, 0, 1]);
    const more = moreUnitsForDifference(t, c);
    assert.ok(more !== null && more > 0);
    // With the same spreads and split, the half-width at n + more is below |difference| and at one fewer it is not.
    const half = (total: number) => {
      const scale = total / (t.n + c.n);
      const cs = differenceCS({ ...t, n: t.n * scale }, { ...c, n: c.n * scale });
      return ((cs.high as number) - (cs.low as number)) / 2;
    };
    const diff = t.mean - c.mean;
    assert.ok(half(t.n + c.n + more) < diff, "settled at n + more");
    assert.ok(half(t.n + c.n + more - 1) >= diff, "not settled one unit earlier");
    assert.equal(moreUnitsForDifference(c, c), null, "a zero difference is never settled");
    // A win rate of 0.7 over 10 units against 0.5.
    const wins = moreUnitsForMean(moments([1, 1, 1, 1, 1, 1, 1, 0, 0, 0]), 0.5);
    assert.ok(wins !== null && wins > 0);
    assert.equal(moreUnitsForMean(moments([1, 0]), 0.5), null);
  });

  it("should test the split with Pearson's chi-square", () => {
    // [60, 40] against 50/50: expected 50 each; (10²/50) · 2 = 4; P(χ²₁ > 4) = 2(1 − Φ(2)) = 0.045500.
    const two = chiSquareGoodnessOfFit([60, 40], [0.5, 0.5]);
    assert.equal(two.statistic, 4);
    assert.equal(two.df, 1);
    close(two.pValue, 0.0455, 1e-5);
    // [30, 30, 40] against 1:1:2: expected 25, 25, 50; 1 + 1 + 2 = 4; P(χ²₂ > 4) = e^(−4/2) = 0.135335.
    const three = chiSquareGoodnessOfFit([30, 30, 40], [1, 1, 2]);
    assert.equal(three.statistic, 4);
    close(three.pValue, 0.135335, 1e-5);
    assert.equal(chiSquareGoodnessOfFit([5], [1]).pValue, null);
    assert.equal(chiSquareGoodnessOfFit([0, 0], [1, 1]).pValue, null);
  });
});

/** Standard normal draws from a seeded uniform (Box–Muller). */
function gaussian(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

interface Arm {
  n: number;
  sum: number;
  sumSquares: number;
}

const excludesZero = (d: Estimate) => d.low !== null && d.high !== null && (d.low > 0 || d.high < 0);

/**
 * Simulated experiments looked at every day: each day `perDay` new units per arm, each contributing one value.
 * Returns how often the sequence, and a fixed-horizon z test read the same way, ever excluded 0.
 */
function simulate(opts: {
  experiments: number;
  days: number;
  perDay: number;
  seed: number;
  draw: (rand: () => number, arm: 0 | 1) => number;
}): { cs: number; tTest: number } {
  const rand = seededRandom(opts.seed);
  let csHits = 0;
  let tHits = 0;
  for (let e = 0; e < opts.experiments; e++) {
    const arms: [Arm, Arm] = [
      { n: 0, sum: 0, sumSquares: 0 },
      { n: 0, sum: 0, sumSquares: 0 },
    ];
    let csHit = false;
    let tHit = false;
    for (let day = 0; day < opts.days; day++) {
      for (const i of [0, 1] as const) {
        const arm = arms[i];
        for (let k = 0; k < opts.perDay; k++) {
          const x = opts.draw(rand, i);
          arm.n++;
          arm.sum += x;
          arm.sumSquares += x * x;
        }
      }
      const t: Moments = momentsOfSums(arms[1].n, arms[1].sum, arms[1].sumSquares);
      const c: Moments = momentsOfSums(arms[0].n, arms[0].sum, arms[0].sumSquares);
      if (excludesZero(differenceCS(t, c))) csHit = true;
      // The fixed-horizon test (z = difference / standard error, two-sided 5%), read every day as people do.
      const se = Math.sqrt(t.variance / t.n + c.variance / c.n);
      if (se > 0 && Math.abs(t.mean - c.mean) / se > Z95) tHit = true;
    }
    if (csHit) csHits++;
    if (tHit) tHits++;
  }
  return { cs: csHits / opts.experiments, tTest: tHits / opts.experiments };
}

describe("A/A simulation, peeking daily for 30 days", () => {
  const alpha = 0.05;

  it("should keep the false positive rate at or below alpha for Bernoulli rewards, unlike a t test read daily", () => {
    const r = simulate({
      experiments: 2000,
      days: 30,
      perDay: 40,
      seed: 11,
      draw: (rand) => (rand() < 0.2 ? 1 : 0),
    });
    assert.ok(r.cs <= alpha, `sequence: ${r.cs} of A/A experiments ever excluded 0`);
    assert.ok(r.tTest > alpha, `daily t test: ${r.tTest} (expected well above ${alpha})`);
    assert.ok(r.tTest > r.cs, "the sequence is wrong less often than the daily t test");
  });

  it("should keep the false positive rate at or below alpha for Gaussian rewards, unlike a t test read daily", () => {
    const r = simulate({
      experiments: 2000,
      days: 30,
      perDay: 40,
      seed: 12,
      draw: (rand) => gaussian(rand)(),
    });
    assert.ok(r.cs <= alpha, `sequence: ${r.cs} of A/A experiments ever excluded 0`);
    assert.ok(r.tTest > alpha, `daily t test: ${r.tTest} (expected well above ${alpha})`);
    assert.ok(r.tTest > r.cs);
  });

  it("should find a real difference (power)", () => {
    // 0.20 against 0.30 with 1,200 units per arm after 30 days: the difference is about 6 standard errors.
    const bernoulli = simulate({
      experiments: 200,
      days: 30,
      perDay: 40,
      seed: 13,
      draw: (rand, arm) => (rand() < (arm === 1 ? 0.3 : 0.2) ? 1 : 0),
    });
    assert.ok(bernoulli.cs >= 0.9, `found in ${bernoulli.cs} of experiments`);
    // A quarter of a standard deviation, about 6 standard errors at the end too.
    const normal = simulate({
      experiments: 200,
      days: 30,
      perDay: 40,
      seed: 14,
      draw: (rand, arm) => gaussian(rand)() + (arm === 1 ? 0.25 : 0),
    });
    assert.ok(normal.cs >= 0.9, `found in ${normal.cs} of experiments`);
  });
});
