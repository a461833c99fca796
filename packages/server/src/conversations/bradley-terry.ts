/**
 * Bradley–Terry strengths with intervals, for ranking more than two players from pairwise outcomes. Pure.
 *
 * Model: P(i beats j) = γᵢ / (γᵢ + γⱼ). Fitted by the MM algorithm of Hunter (2004), "MM algorithms for
 * generalized Bradley–Terry models", Annals of Statistics 32(1), 384–406: γᵢ ← Wᵢ / Σⱼ nᵢⱼ / (γᵢ + γⱼ), which
 * increases the likelihood at every step and converges to the maximum when the comparison graph is connected.
 * A tie counts as half a win to each side (the usual reading without a tie parameter; Davidson 1970 models ties
 * explicitly, which needs more data than a conversation evaluation has).
 *
 * Intervals: on θ = log γ with the reference player fixed at θ = 0, the observed Fisher information is
 * Iᵢᵢ = Σⱼ nᵢⱼ pᵢⱼ pⱼᵢ and Iᵢⱼ = −nᵢⱼ pᵢⱼ pⱼᵢ (Agresti, Categorical Data Analysis, 3rd ed., §11.6); its inverse
 * (the reference's row and column removed) is the covariance, and θ ± z·se is a Wald interval.
 *
 * A player that wins (or loses) every comparison has no finite maximum; `prior` adds that many virtual ties
 * between each player and the reference (a weak shrinkage toward "as good as the reference"), so strengths
 * and intervals stay finite. The report uses one; pass 0 for the plain maximum likelihood.
 */
/** z for a two-sided 95% interval (as evals/stats.ts). */
const Z95 = 1.959963984540054;

export interface Outcome {
  /** Indexes of the two players. */
  i: number;
  j: number;
  /** 1: i won, 0: j won, 0.5: tie. */
  score: 1 | 0 | 0.5;
}

export interface Strength {
  /** log γ, relative to the reference (θ = 0). */
  theta: number;
  /** Standard error of θ; 0 for the reference. */
  se: number;
  /** θ ± z·se. */
  interval: [number, number];
}

export interface FitOptions {
  /** The player whose θ is 0 (default 0). */
  reference?: number;
  /** Virtual ties between each other player and the reference (default 0). */
  prior?: number;
  maxIterations?: number;
  tolerance?: number;
}

/** Fits strengths for `players` players; null when a player has no comparison (nothing to estimate). */
export function bradleyTerry(
  players: number,
  outcomes: readonly Outcome[],
  opts: FitOptions = {},
): Strength[] | null {
  const ref = opts.reference ?? 0;
  const prior = opts.prior ?? 0;
  const n = Array.from({ length: players }, () => new Array<number>(players).fill(0));
  const wins = new Array<number>(players).fill(0);
  const add = (i: number, j: number, score: number, weight: number) => {
    (n[i] as number[])[j] = ((n[i] as number[])[j] as number) + weight;
    (n[j] as number[])[i] = ((n[j] as number[])[i] as number) + weight;
    wins[i] = (wins[i] as number) + score * weight;
    wins[j] = (wins[j] as number) + (1 - score) * weight;
  };
  for (const o of outcomes) if (o.i !== o.j) add(o.i, o.j, o.score, 1);
  if (prior > 0) for (let i = 0; i < players; i++) if (i !== ref) add(i, ref, 0.5, prior);
  const nij = (i: number, j: number) => (n[i] as number[])[j] as number;
  for (let i = 0; i < players; i++) if (n[i]?.every((x) => x === 0)) return null;

  let gamma = new Array<number>(players).fill(1);
  const maxIt = opts.maxIterations ?? 10_000;
  const tol = opts.tolerance ?? 1e-10;
  for (let it = 0; it < maxIt; it++) {
    const next = gamma.map((gi, i) => {
      let denom = 0;
      for (let j = 0; j < players; j++)
        if (j !== i && nij(i, j) > 0) denom += nij(i, j) / (gi + (gamma[j] as number));
      // A player without a win goes to 0 (θ → −∞): kept just above so the logarithm stays finite.
      return Math.max((wins[i] as number) / denom, 1e-300);
    });
    const r = next[ref] as number;
    const scaled = next.map((g) => g / r);
    const change = Math.max(...scaled.map((g, i) => Math.abs(Math.log(g) - Math.log(gamma[i] as number))));
    gamma = scaled;
    if (change < tol) break;
  }

  // Observed information on θ, without the reference's row and column.
  const others = [...Array(players).keys()].filter((i) => i !== ref);
  const p = (i: number, j: number) => (gamma[i] as number) / ((gamma[i] as number) + (gamma[j] as number));
  const info = others.map((i) =>
    others.map((j) => {
      if (i !== j) return -nij(i, j) * p(i, j) * p(j, i);
      let s = 0;
      for (let k = 0; k < players; k++) if (k !== i) s += nij(i, k) * p(i, k) * p(k, i);
      return s;
    }),
  );
  const cov = invert(info);
  return gamma.map((g, i) => {
    const theta = Math.log(g);
    const k = others.indexOf(i);
    const v = k < 0 ? 0 : cov ? ((cov[k] as number[])[k] as number) : Number.POSITIVE_INFINITY;
    const se = Math.sqrt(Math.max(0, v));
    return { theta, se, interval: [theta - Z95 * se, theta + Z95 * se] };
  });
}

/** Gauss–Jordan inverse with partial pivoting; null when singular. */
export function invert(m: readonly (readonly number[])[]): number[][] | null {
  const size = m.length;
  const a = m.map((row, i) => [...row, ...Array.from({ length: size }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < size; c++) {
    let pivot = c;
    for (let r = c + 1; r < size; r++)
      if (Math.abs((a[r] as number[])[c] as number) > Math.abs((a[pivot] as number[])[c] as number))
        pivot = r;
    const pv = (a[pivot] as number[])[c] as number;
    if (Math.abs(pv) < 1e-12) return null;
    [a[c], a[pivot]] = [a[pivot] as number[], a[c] as number[]];
    const row = (a[c] as number[]).map((x) => x / pv);
    a[c] = row;
    for (let r = 0; r < size; r++) {
      if (r === c) continue;
      const f = (a[r] as number[])[c] as number;
      if (f !== 0) a[r] = (a[r] as number[]).map((x, k) => x - f * (row[k] as number));
    }
  }
  return a.map((row) => row.slice(size));
}
