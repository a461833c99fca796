/**
 * The statistics of an evaluation report. Pure functions, no dependencies.
 *
 * - Proportions (pass rates, win/tie/loss, agreement): Wilson score interval, which stays inside [0, 1] and
 *   behaves at 0/n and n/n where the normal ("Wald") interval collapses (Wilson 1927; Brown, Cai & DasGupta 2001).
 * - Means (judge scores): Student's t interval, mean ± t(0.975, n−1)·s/√n. Chosen over a bootstrap because it is
 *   exact to check against published tables and needs no resampling; judge scores are bounded and the
 *   interval is reported unclipped, so with few items it may reach past the scale.
 * - Percentiles (cost, latency): linear interpolation between order statistics (Hyndman & Fan type 7, the
 *   default of R and NumPy).
 */

/** z for a two-sided 95% interval. */
export const Z95 = 1.959963984540054;

/** A [low, high] interval, or null when there is nothing to estimate from. */
export type Interval = [number, number] | null;

const round = (x: number, digits = 6) => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * Wilson score interval for `successes` out of `n`.
 *
 * @example
 * ```ts
 * wilson(8, 10); // [0.490162, 0.943318]
 * ```
 */
export function wilson(successes: number, n: number, z = Z95): Interval {
  if (n <= 0) return null;
  const p = successes / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return [round(Math.max(0, center - half)), round(Math.min(1, center + half))];
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; about 15 significant digits). */
function lnGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const xx = x - 1;
  let a = c[0] as number;
  const t = xx + 7.5;
  for (let i = 1; i < 9; i++) a += (c[i] as number) / (xx + i);
  return 0.5 * Math.log(2 * Math.PI) + (xx + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta function (modified Lentz). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b). */
function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2)
    ? (front * betaContinuedFraction(x, a, b)) / a
    : 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/** P(T <= t) for Student's t with `df` degrees of freedom. */
export function tCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/**
 * The p-quantile of Student's t (bisection on the CDF, to 1e-12).
 *
 * @example
 * ```ts
 * tQuantile(0.975, 4); // 2.776445
 * ```
 */
export function tQuantile(p: number, df: number): number {
  if (p === 0.5) return 0;
  if (p < 0.5) return -tQuantile(1 - p, df);
  let lo = 0;
  let hi = 1;
  while (tCdf(hi, df) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12; i++) {
    const mid = (lo + hi) / 2;
    if (tCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

export function mean(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample standard deviation (n − 1). */
export function stdev(xs: readonly number[]): number | null {
  const m = mean(xs);
  if (m === null || xs.length < 2) return null;
  let s = 0;
  for (const x of xs) s += (x - m) ** 2;
  return Math.sqrt(s / (xs.length - 1));
}

/**
 * Student's t 95% interval for the mean; null with fewer than two values.
 *
 * @example
 * ```ts
 * tInterval([1, 2, 3, 4, 5]); // [1.036757, 4.963243]
 * ```
 */
export function tInterval(xs: readonly number[], level = 0.95): Interval {
  const m = mean(xs);
  const s = stdev(xs);
  if (m === null || s === null) return null;
  const half = tQuantile(1 - (1 - level) / 2, xs.length - 1) * (s / Math.sqrt(xs.length));
  return [round(m - half), round(m + half)];
}

/**
 * The q-quantile (0..1) with linear interpolation between order statistics (type 7).
 *
 * @example
 * ```ts
 * percentile([100, 200, 300, 400, 1000], 0.95); // 880
 * ```
 */
export function percentile(xs: readonly number[], q: number): number | null {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const a = sorted[lo] as number;
  const b = sorted[Math.min(lo + 1, sorted.length - 1)] as number;
  return a + (h - lo) * (b - a);
}

/** Mean, median, 95th percentile and total of a sample. */
export interface Summary {
  n: number;
  mean: number | null;
  p50: number | null;
  p95: number | null;
  total: number;
}

export function summarize(xs: readonly number[]): Summary {
  return {
    n: xs.length,
    mean: mean(xs),
    p50: percentile(xs, 0.5),
    p95: percentile(xs, 0.95),
    total: xs.reduce((s, x) => s + x, 0),
  };
}

/**
 * Cohen's kappa for two raters' yes/no labels on the same items: agreement beyond what their base rates
 * would give by chance. Null when chance agreement is already 1 (both raters said the same thing throughout).
 */
export function cohenKappa(pairs: ReadonlyArray<{ a: boolean; b: boolean }>): number | null {
  const n = pairs.length;
  if (n === 0) return null;
  let agree = 0;
  let aYes = 0;
  let bYes = 0;
  for (const p of pairs) {
    if (p.a === p.b) agree++;
    if (p.a) aYes++;
    if (p.b) bYes++;
  }
  const po = agree / n;
  const pe = (aYes / n) * (bYes / n) + (1 - aYes / n) * (1 - bYes / n);
  return pe === 1 ? null : round((po - pe) / (1 - pe));
}

/** 32-bit FNV-1a hash of a string. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: a small seeded PRNG returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Cohen's kappa with its large-sample standard error and 95% interval (`cohenKappaTable`). */
export interface KappaEstimate {
  /** Items rated by both raters. */
  n: number;
  kappa: number | null;
  /** Standard error of kappa (Fleiss, Cohen & Everitt 1969), what the interval is built from. */
  se: number | null;
  /** kappa ± z·se, cut to [−1, 1]; null when kappa is undefined or n < 2. */
  ci: Interval;
}

/**
 * Cohen's kappa on a k×k agreement table (rows: the first rater's category, columns: the second's, cells:
 * counts), with the large-sample variance of Fleiss, Cohen & Everitt (1969), the "ASE" SAS PROC FREQ prints:
 *
 *   Var(κ) = [Σᵢ pᵢᵢ(1 − (pᵢ. + p.ᵢ)(1 − κ))² + (1 − κ)² Σᵢ≠ⱼ pᵢⱼ(p.ᵢ + pⱼ.)² − (κ − pₑ(1 − κ))²] / (n(1 − pₑ)²)
 *
 * The normal interval is the textbook one; with few items (n < 20 or so) it is only a rough guide, which is why
 * the views say "not yet calibrated" below that.
 *
 * @example
 * ```ts
 * cohenKappaTable([[0, 4, 1], [0, 8, 0], [0, 1, 5]]); // { n: 19, kappa: 0.484163, se: 0.138, ci: [0.2137, 0.7547] }
 * ```
 */
export function cohenKappaTable(table: ReadonlyArray<ReadonlyArray<number>>, z = Z95): KappaEstimate {
  const k = table.length;
  let n = 0;
  for (const row of table) for (const c of row) n += c;
  if (n === 0) return { n, kappa: null, se: null, ci: null };
  const p = table.map((row) => row.map((c) => c / n));
  const cell = (i: number, j: number) => p[i]?.[j] ?? 0;
  const rowSum = Array.from({ length: k }, (_, i) => (p[i] ?? []).reduce((s, x) => s + x, 0));
  const colSum = Array.from({ length: k }, (_, j) => p.reduce((s, row) => s + (row[j] ?? 0), 0));
  let po = 0;
  let pe = 0;
  for (let i = 0; i < k; i++) {
    po += cell(i, i);
    pe += (rowSum[i] as number) * (colSum[i] as number);
  }
  // Chance agreement of 1: both raters used one category throughout, and kappa is 0/0.
  if (pe >= 1 - 1e-12) return { n, kappa: null, se: null, ci: null };
  const kappa = (po - pe) / (1 - pe);
  const q = 1 - kappa;
  let a = 0;
  let b = 0;
  for (let i = 0; i < k; i++) {
    a += cell(i, i) * (1 - ((rowSum[i] as number) + (colSum[i] as number)) * q) ** 2;
    for (let j = 0; j < k; j++)
      if (i !== j) b += cell(i, j) * ((colSum[i] as number) + (rowSum[j] as number)) ** 2;
  }
  const c = (kappa - pe * q) ** 2;
  const variance = Math.max(0, (a + q * q * b - c) / (n * (1 - pe) ** 2));
  const se = Math.sqrt(variance);
  const ci: Interval =
    n < 2 ? null : [round(Math.max(-1, kappa - z * se)), round(Math.min(1, kappa + z * se))];
  return { n, kappa: round(kappa), se: round(se), ci };
}

/**
 * The k×k table of two raters' labels on the same items, in the order of `categories`; a label outside them
 * is left out.
 */
export function agreementTable<T>(
  pairs: ReadonlyArray<{ a: T; b: T }>,
  categories: readonly T[],
): number[][] {
  const table = categories.map(() => categories.map(() => 0));
  for (const { a, b } of pairs) {
    const i = categories.indexOf(a);
    const j = categories.indexOf(b);
    if (i >= 0 && j >= 0) (table[i] as number[])[j] = ((table[i] as number[])[j] as number) + 1;
  }
  return table;
}

/** Cohen's kappa and its interval for two raters' yes/no labels (the table's first row and column: yes). */
export function cohenKappaInterval(pairs: ReadonlyArray<{ a: boolean; b: boolean }>): KappaEstimate {
  return cohenKappaTable(agreementTable(pairs, [true, false]));
}
