/**
 * Agreement between reviewers on the same items: Cohen's kappa for two raters and Krippendorff's alpha for any
 * number of raters with missing answers, each with a seeded bootstrap interval over items.
 *
 * Written here rather than taken from npm: the registry's only Krippendorff package is a 0.1.0 with no levels of
 * measurement or missing data. Both are checked against published worked examples in `agreement.test.ts`
 * (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability", sections A–C; Cohen's kappa's textbook table).
 */
import { hash32, seededRandom } from "../evals/index.ts";

/** A reviewer's answer to one field: a category, or a number on a scale. Null or absent: not answered. */
export type Rating = string | number | boolean | null;

/**
 * How differences between answers count (Krippendorff's metrics): `nominal` any difference is total, `ordinal`
 * by how many answers lie between two ranks, `interval` by the squared numeric distance.
 */
export const agreementLevels = ["nominal", "ordinal", "interval"] as const;
export type AgreementLevel = (typeof agreementLevels)[number];

export interface Interval {
  lo: number;
  hi: number;
}

export interface Estimate {
  value: number | null;
  /** 95% percentile bootstrap over items (resampled with replacement, seeded: the same data gives the same one). */
  interval: Interval | null;
  /** Items that entered the statistic (two or more answers for alpha, both raters for kappa). */
  items: number;
}

const key = (v: Exclude<Rating, null>) => (typeof v === "boolean" ? (v ? "true" : "false") : String(v));

/**
 * Cohen's kappa (nominal) for two raters: (pₒ − pₑ)/(1 − pₑ) over the items both answered. Null when fewer than
 * two such items or when chance agreement is already 1 (both gave one and the same answer throughout).
 */
export function cohenKappa(a: readonly Rating[], b: readonly Rating[]): number | null {
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === null || x === undefined || y === null || y === undefined) continue;
    pairs.push([key(x), key(y)]);
  }
  const n = pairs.length;
  if (n < 2) return null;
  const ma = new Map<string, number>();
  const mb = new Map<string, number>();
  let agree = 0;
  for (const [x, y] of pairs) {
    if (x === y) agree++;
    ma.set(x, (ma.get(x) ?? 0) + 1);
    mb.set(y, (mb.get(y) ?? 0) + 1);
  }
  let pe = 0;
  for (const [c, na] of ma) pe += (na / n) * ((mb.get(c) ?? 0) / n);
  if (pe >= 1 - 1e-12) return null;
  return (agree / n - pe) / (1 - pe);
}

/**
 * Krippendorff's alpha, 1 − Dₒ/Dₑ from the coincidence matrix, for `units` (one array of answers per item, any
 * number of raters, null for a missing answer; items with fewer than two answers are not pairable and left out).
 * Null when fewer than two pairable values or no expected disagreement (every answer the same).
 * @throws Error when an ordinal or interval level meets an answer that is not a number (or boolean).
 */
export function krippendorffAlpha(
  units: ReadonlyArray<readonly Rating[]>,
  level: AgreementLevel,
): number | null {
  const values = units.map((u) => u.filter((v): v is Exclude<Rating, null> => v !== null && v !== undefined));
  const pairable = values.filter((u) => u.length >= 2);
  // Categories, in order for ordinal and interval.
  const cats = new Map<string, number>();
  for (const u of pairable) {
    for (const v of u) {
      if (level !== "nominal") {
        const x = typeof v === "boolean" ? Number(v) : v;
        if (typeof x !== "number" || !Number.isFinite(x))
          throw new Error(`an ${level} agreement needs numbers; got ${JSON.stringify(v)}`);
      }
      cats.set(key(v), level === "nominal" ? cats.size : typeof v === "boolean" ? Number(v) : (v as number));
    }
  }
  const names = [...cats.keys()];
  if (level !== "nominal") names.sort((x, y) => (cats.get(x) as number) - (cats.get(y) as number));
  const index = new Map(names.map((c, i) => [c, i]));
  const k = names.length;
  const o: number[][] = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (const u of pairable) {
    const m = u.length;
    const idx = u.map((v) => index.get(key(v)) as number);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) {
        if (i === j) continue;
        const row = o[idx[i] as number] as number[];
        row[idx[j] as number] = (row[idx[j] as number] as number) + 1 / (m - 1);
      }
    }
  }
  const nc = o.map((row) => row.reduce((s, x) => s + x, 0));
  const n = nc.reduce((s, x) => s + x, 0);
  if (n < 2) return null;
  const delta = (c: number, d: number): number => {
    if (c === d) return 0;
    if (level === "nominal") return 1;
    if (level === "interval") {
      const diff = (cats.get(names[c] as string) as number) - (cats.get(names[d] as string) as number);
      return diff * diff;
    }
    const [lo, hi] = c < d ? [c, d] : [d, c];
    let s = 0;
    for (let g = lo; g <= hi; g++) s += nc[g] as number;
    s -= ((nc[c] as number) + (nc[d] as number)) / 2;
    return s * s;
  };
  let observed = 0;
  let expected = 0;
  for (let c = 0; c < k; c++) {
    for (let d = 0; d < k; d++) {
      const dl = delta(c, d);
      if (dl === 0) continue;
      observed += ((o[c] as number[])[d] as number) * dl;
      expected += (nc[c] as number) * (nc[d] as number) * dl;
    }
  }
  if (expected === 0) return null;
  return 1 - ((n - 1) * observed) / expected;
}

/** The 2.5th and 97.5th percentiles of the replicates (linear interpolation), or null with fewer than 20. */
function percentileInterval(reps: number[]): Interval | null {
  if (reps.length < 20) return null;
  const s = [...reps].sort((x, y) => x - y);
  const at = (q: number) => {
    const pos = q * (s.length - 1);
    const i = Math.floor(pos);
    const frac = pos - i;
    const a = s[i] as number;
    const b = s[Math.min(i + 1, s.length - 1)] as number;
    return a + (b - a) * frac;
  };
  return { lo: at(0.025), hi: at(0.975) };
}

export const BOOTSTRAP_REPLICATES = 1000;

/**
 * A statistic on items with its bootstrap interval: items are drawn with replacement `replicates` times from a
 * PRNG seeded by `seed`; replicates where the statistic is undefined (all one answer) are left out.
 */
export function bootstrap<T>(
  items: readonly T[],
  stat: (sample: readonly T[]) => number | null,
  seed: string,
  replicates = BOOTSTRAP_REPLICATES,
): { value: number | null; interval: Interval | null } {
  const value = stat(items);
  if (value === null || items.length < 2) return { value, interval: null };
  const random = seededRandom(hash32(seed));
  const reps: number[] = [];
  const sample: T[] = new Array<T>(items.length);
  for (let r = 0; r < replicates; r++) {
    for (let i = 0; i < items.length; i++) sample[i] = items[Math.floor(random() * items.length)] as T;
    const v = stat(sample);
    if (v !== null && Number.isFinite(v)) reps.push(v);
  }
  return { value, interval: percentileInterval(reps) };
}

/** Krippendorff's alpha on `units` with its bootstrap interval. */
export function alphaEstimate(
  units: ReadonlyArray<readonly Rating[]>,
  level: AgreementLevel,
  seed: string,
): Estimate {
  const pairable = units.filter((u) => u.filter((v) => v !== null && v !== undefined).length >= 2);
  return { ...bootstrap(pairable, (s) => krippendorffAlpha(s, level), seed), items: pairable.length };
}

/** Cohen's kappa of two raters (`[a, b]` per item) with its bootstrap interval. */
export function kappaEstimate(pairs: ReadonlyArray<readonly [Rating, Rating]>, seed: string): Estimate {
  const both = pairs.filter(([a, b]) => a !== null && a !== undefined && b !== null && b !== undefined);
  const stat = (s: ReadonlyArray<readonly [Rating, Rating]>) =>
    cohenKappa(
      s.map((p) => p[0]),
      s.map((p) => p[1]),
    );
  return { ...bootstrap(both, stat, seed), items: both.length };
}
