/**
 * The statistics of the experiment report: intervals that stay valid however often they are read.
 *
 * A team watching an experiment looks every day and stops when something looks settled. A fixed-horizon
 * interval (a t test) read that way is wrong far more often than its 5% (the A/A simulation in stats.test.ts
 * shows how much). The intervals here are **asymptotic confidence sequences** (AsympCS):
 *
 *   Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas, "Time-uniform central limit theory and asymptotic confidence
 *   sequences", Annals of Statistics (2024), arXiv:2103.06476, Theorem 2.2 (Robbins' normal mixture boundary).
 *
 * For the mean of t i.i.d. observations with sample mean μ̂ₜ and sample sd σ̂ₜ,
 *
 *   μ̂ₜ ± σ̂ₜ · sqrt( 2(tρ² + 1) / (t²ρ²) · ln( sqrt(tρ² + 1) / α ) )
 *
 * covers the mean at every t at once with probability about 1 - α (two-sided). ρ > 0 only moves where the
 * sequence is tightest; it is tuned once (not from the data) so that the width is smallest at t* units
 * (`T_STAR`, 1,000 units: an experiment on a service with real traffic reaches that in days, and the width
 * elsewhere is only a little larger). Proportions (error rate, check pass rate, win rate) are means of 0/1
 * values and use the same sequence.
 *
 * The observations are the assignment units' means (a user's, a session's, or a request's value), as
 * randomised: calls of one user are not independent of each other, users are.
 */
import type jstatModule from "jstat";
import { onFirstUse } from "../util/on-first-use.ts";

const jstat = onFirstUse<typeof jstatModule>("jstat");

/** The number of units at which the sequences are tightest (see the file's comment). */
export const T_STAR = 1000;
export const DEFAULT_ALPHA = 0.05;

export interface CsOptions {
  alpha?: number;
  /** Where the sequence is tightest, in units (default `T_STAR`); sets ρ. */
  tStar?: number;
  /** ρ² itself, instead of tuning it for `tStar` (hand-checked examples use round values). */
  rho2?: number;
}

/** Count, mean and sample variance (n - 1; 0 below two values) of a sample. */
export interface Moments {
  n: number;
  mean: number;
  variance: number;
}

/** An estimate with its interval; `low`/`high` null while there is too little data. */
export interface Estimate {
  n: number;
  estimate: number | null;
  low: number | null;
  high: number | null;
}

/**
 * Moments of a sample (Welford's update, which keeps the variance of large, nearly equal values exact).
 *
 * @example
 * ```ts
 * moments([1, 2, 3, 4]); // { n: 4, mean: 2.5, variance: 1.6666666666666667 }
 * ```
 */
export function moments(xs: readonly number[]): Moments {
  let n = 0;
  let mean = 0;
  let m2 = 0;
  for (const x of xs) {
    n++;
    const d = x - mean;
    mean += d / n;
    m2 += d * (x - mean);
  }
  return { n, mean, variance: n > 1 ? m2 / (n - 1) : 0 };
}

/** Moments from running sums (Σx, Σx²), as the simulations keep them. */
export function momentsOfSums(n: number, sum: number, sumSquares: number): Moments {
  if (n === 0) return { n, mean: 0, variance: 0 };
  const mean = sum / n;
  return { n, mean, variance: n > 1 ? Math.max(0, (sumSquares - n * mean * mean) / (n - 1)) : 0 };
}

/**
 * For a metric bounded in [0, 1] (a rate): when every unit so far has the same value, the sample variance is 0
 * and the sequence would have no width at all, so 0 failures in 5 units would read as certainty. Then the
 * variance of a Bernoulli at p̃ = (Σx + ½) / (n + 1) (half an event added, as in Jeffreys' and Agresti's
 * intervals) stands in for it; a sample with any spread keeps its own variance.
 *
 * @example
 * ```ts
 * withRateFloor(moments([0, 0, 0, 0, 0])).variance; // p̃ = 0.5/6 = 0.0833; 0.0833 · 0.9167 = 0.0764
 * ```
 */
export function withRateFloor(m: Moments): Moments {
  if (m.n < 2 || m.variance > 0) return m;
  const p = (m.mean * m.n + 0.5) / (m.n + 1);
  return { ...m, variance: p * (1 - p) };
}

/** An interval cut to the range its parameter lives in (a sequence intersected with it stays valid). */
export function clip(e: Estimate, lo: number, hi: number): Estimate {
  const cut = (x: number | null) => (x === null ? null : Math.min(hi, Math.max(lo, x)));
  return { ...e, low: cut(e.low), high: cut(e.high) };
}

/**
 * The half-width of the sequence for unit variance at t observations: sqrt(2(tρ²+1)/(t²ρ²) · ln(sqrt(tρ²+1)/α)).
 * Multiplied by σ̂ it is the half-width of the AsympCS for a mean.
 *
 * @example
 * ```ts
 * csMargin(100, 0.01, 0.05); // 0.36564... (see stats.test.ts for the arithmetic)
 * ```
 */
export function csMargin(t: number, rho2: number, alpha: number): number {
  const a = t * rho2 + 1;
  return Math.sqrt(((2 * a) / (t * t * rho2)) * Math.log(Math.sqrt(a) / alpha));
}

const rho2Cache = new Map<string, number>();

/**
 * The ρ² that makes the sequence narrowest at t* (the paper gives it through Lambert's W; minimising the margin
 * directly is the same number without a W implementation). The margin is unimodal in ln ρ², so a golden-section
 * search finds it. The paper's closed-form approximation, (-2 ln α + ln(-2 ln α + 1)) / t*, lands within a few
 * percent (checked in stats.test.ts).
 */
export function optimalRho2(tStar: number, alpha: number): number {
  const key = `${tStar}:${alpha}`;
  const cached = rho2Cache.get(key);
  if (cached !== undefined) return cached;
  const f = (lnRho2: number) => csMargin(tStar, Math.exp(lnRho2), alpha);
  let lo = Math.log(1e-12);
  let hi = Math.log(1e3);
  const g = (Math.sqrt(5) - 1) / 2;
  let x1 = hi - g * (hi - lo);
  let x2 = lo + g * (hi - lo);
  let f1 = f(x1);
  let f2 = f(x2);
  for (let i = 0; i < 200 && hi - lo > 1e-12; i++) {
    if (f1 < f2) {
      hi = x2;
      x2 = x1;
      f2 = f1;
      x1 = hi - g * (hi - lo);
      f1 = f(x1);
    } else {
      lo = x1;
      x1 = x2;
      f1 = f2;
      x2 = lo + g * (hi - lo);
      f2 = f(x2);
    }
  }
  const rho2 = Math.exp((lo + hi) / 2);
  rho2Cache.set(key, rho2);
  return rho2;
}

const settings = (opts: CsOptions) => {
  const alpha = opts.alpha ?? DEFAULT_ALPHA;
  return { alpha, rho2: opts.rho2 ?? optimalRho2(opts.tStar ?? T_STAR, alpha) };
};

/**
 * The AsympCS for a mean: μ̂ ± σ̂ · csMargin(t). Null bounds below two observations (no variance yet).
 *
 * @example
 * ```ts
 * meanCS(moments(values), { alpha: 0.05 }); // { n, estimate, low, high }
 * ```
 */
export function meanCS(m: Moments, opts: CsOptions = {}): Estimate {
  if (m.n === 0) return { n: 0, estimate: null, low: null, high: null };
  if (m.n < 2) return { n: m.n, estimate: m.mean, low: null, high: null };
  const { alpha, rho2 } = settings(opts);
  const half = Math.sqrt(m.variance) * csMargin(m.n, rho2, alpha);
  return { n: m.n, estimate: m.mean, low: m.mean - half, high: m.mean + half };
}

/**
 * The effective sd of the difference of two means, σ_eff, such that σ_eff · csMargin(n₁ + n₂) is the half-width.
 *
 * Why this is the two-sample form of the AsympCS: a unit is randomised to the treatment with probability π
 * (the allocation's share among the two arms). With Aᵢ = 1 for a treated unit and Yᵢ its value, the terms
 *
 *   ψᵢ = Aᵢ·Yᵢ/π - (1 - Aᵢ)·Yᵢ/(1 - π)
 *
 * are i.i.d. over all t = n₁ + n₂ units of the two arms and have mean μ₁ - μ₂ (inverse-probability weighting, the
 * randomised-experiment case of the paper's Section 3). Their mean is the difference of the arms' means (with
 * π estimated by n₁/t, its Hájek form, asymptotically the same), and their variance is, up to terms that vanish
 * as the difference shrinks toward 0 (where the verdict matters),
 *
 *   Var ψ ≈ σ₁²/π + σ₂²/(1 - π),   so   Var ψ / t ≈ σ₁²/n₁ + σ₂²/n₂.
 *
 * The one-sample sequence applied to the ψᵢ has half-width sqrt(Var ψ) · csMargin(t), that is
 * sqrt(t · (σ₁²/n₁ + σ₂²/n₂)) · csMargin(t): the usual two-sample variance in place of σ̂²/t, with t = n₁ + n₂.
 */
function effectiveSd(treatment: Moments, control: Moments): number {
  const t = treatment.n + control.n;
  return Math.sqrt(t * (treatment.variance / treatment.n + control.variance / control.n));
}

/**
 * The AsympCS for the difference of two means (treatment − control), each over its own units; `n` is the
 * units of both arms. Null bounds until each arm has two units.
 */
export function differenceCS(treatment: Moments, control: Moments, opts: CsOptions = {}): Estimate {
  const n = treatment.n + control.n;
  if (treatment.n === 0 || control.n === 0) return { n, estimate: null, low: null, high: null };
  const estimate = treatment.mean - control.mean;
  if (treatment.n < 2 || control.n < 2) return { n, estimate, low: null, high: null };
  const { alpha, rho2 } = settings(opts);
  const half = effectiveSd(treatment, control) * csMargin(n, rho2, alpha);
  return { n, estimate, low: estimate - half, high: estimate + half };
}

/**
 * The smallest total T >= t at which sd · csMargin(T) < |target|, by doubling and bisection: the margin falls
 * steadily in T (its derivative is negative for every α < 0.6), so the first such T is well defined.
 */
function unitsFor(sd: number, target: number, t: number, opts: CsOptions): number | null {
  if (!(Math.abs(target) > 0) || !Number.isFinite(sd)) return null;
  const { alpha, rho2 } = settings(opts);
  const narrow = (T: number) => sd * csMargin(T, rho2, alpha) < Math.abs(target);
  if (narrow(t)) return t;
  let lo = t;
  let hi = Math.max(2 * t, 4);
  while (!narrow(hi)) {
    lo = hi;
    hi *= 2;
    if (hi > 2 ** 52) return null;
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (narrow(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * About how many more units (both arms together, in today's proportion and with today's spreads) would make the
 * difference's sequence narrower than the difference seen so far, so that it would exclude 0 if the difference
 * held. Null when the difference is 0 (nothing would settle it) or an arm has fewer than two units.
 */
export function moreUnitsForDifference(
  treatment: Moments,
  control: Moments,
  opts: CsOptions = {},
): number | null {
  if (treatment.n < 2 || control.n < 2) return null;
  const t = treatment.n + control.n;
  const T = unitsFor(effectiveSd(treatment, control), treatment.mean - control.mean, t, opts);
  return T === null ? null : T - t;
}

/** The same for a one-sample mean against `reference` (a pairwise win rate against 0.5). */
export function moreUnitsForMean(m: Moments, reference: number, opts: CsOptions = {}): number | null {
  if (m.n < 2) return null;
  const T = unitsFor(Math.sqrt(m.variance), m.mean - reference, m.n, opts);
  return T === null ? null : T - m.n;
}

/**
 * Pearson's chi-square goodness of fit of counts against expected shares (normalised here): is the split of
 * units what the allocation says? The p-value is the chi-square survival function with k − 1 degrees of
 * freedom (jstat's CDF). Null p-value with fewer than two categories or no counts.
 *
 * @example
 * ```ts
 * chiSquareGoodnessOfFit([60, 40], [0.5, 0.5]); // { statistic: 4, df: 1, pValue: 0.0455... }
 * ```
 */
export function chiSquareGoodnessOfFit(
  observed: readonly number[],
  shares: readonly number[],
): { statistic: number; df: number; pValue: number | null } {
  const total = observed.reduce((s, x) => s + x, 0);
  const shareSum = shares.reduce((s, x) => s + x, 0);
  const df = observed.length - 1;
  if (df < 1 || total === 0 || !(shareSum > 0)) return { statistic: 0, df: Math.max(df, 0), pValue: null };
  let statistic = 0;
  observed.forEach((o, i) => {
    const expected = (total * (shares[i] ?? 0)) / shareSum;
    statistic += expected > 0 ? (o - expected) ** 2 / expected : o > 0 ? Number.POSITIVE_INFINITY : 0;
  });
  const pValue = Number.isFinite(statistic) ? Math.max(0, 1 - jstat().jStat.chisquare.cdf(statistic, df)) : 0;
  return { statistic, df, pValue };
}
