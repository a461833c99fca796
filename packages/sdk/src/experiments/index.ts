/**
 * `intersebd/experiments`: which variant of an experiment a unit (a user, a session, a request) gets. The server's
 * proxy, this SDK and the Python SDK compute it the same way, with no shared state and no network call, so every
 * instance agrees: the tests hold all three to one table (`assignment-cases.json`).
 *
 * **The hash.** A unit's bucket is `fnv1a32(str(fnv1a32(experiment + ":" + salt + ":" + unit))) % 10000`, over
 * the UTF-8 bytes. Hashing twice is GrowthBook's "v2" hashing (growthbook.io/docs, "Experimentation: hashing"):
 * one FNV-1a round maps ids that differ in their last character ("u1", "u2"...) to nearby values, the second
 * round spreads them evenly. 10,000 buckets give weights to 0.01 %.
 *
 * **The allocation.** Each variant owns ranges of buckets. When weights change, `reallocate` moves as few buckets
 * as possible: a variant whose weight shrinks keeps the first part of its ranges and frees the rest; a variant that
 * grows keeps all of its ranges and takes freed ones. So the share of units that change variant is exactly the sum
 * of the decreases (50/50 to 80/20 moves 30 % of units, all of them from the shrinking variant to the growing one),
 * which is the least any scheme can move. The allocation is part of the experiment's definition; instances and
 * SDKs read it, never recompute it.
 */

export const BUCKETS = 10_000;

/** Buckets `[from, to)` given to `variant`. */
export interface BucketRange {
  variant: string;
  from: number;
  to: number;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const encoder = new TextEncoder();

/**
 * 32-bit FNV-1a over the string's UTF-8 bytes. An ASCII string's characters are its bytes: hashed without
 * encoding it (the proxy hashes twice per routed request; no array is allocated for it).
 */
export function fnv1a32(text: string): number {
  let hash = FNV_OFFSET;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return fnv1a32Bytes(encoder.encode(text));
    hash ^= c;
    hash = Math.imul(hash, FNV_PRIME) >>> 0;
  }
  return hash >>> 0;
}

function fnv1a32Bytes(bytes: Uint8Array): number {
  let hash = FNV_OFFSET;
  for (const byte of bytes) {
    hash ^= byte;
    hash = Math.imul(hash, FNV_PRIME) >>> 0;
  }
  return hash >>> 0;
}

/** The unit's bucket in `[0, BUCKETS)` for an experiment and salt. */
export function bucketOf(experiment: string, salt: string, unit: string): number {
  return fnv1a32(String(fnv1a32(`${experiment}:${salt}:${unit}`))) % BUCKETS;
}

/** The variant that owns `bucket`, or undefined when no range covers it (an allocation always covers all). */
export function variantOfBucket(allocation: readonly BucketRange[], bucket: number): string | undefined {
  for (const r of allocation) if (bucket >= r.from && bucket < r.to) return r.variant;
  return undefined;
}

/** The variant a unit gets: the pure function every instance and SDK shares. */
export function assignVariant(
  experiment: { name: string; salt: string; allocation: readonly BucketRange[] },
  unit: string,
): string | undefined {
  return variantOfBucket(experiment.allocation, bucketOf(experiment.name, experiment.salt, unit));
}

/**
 * Bucket counts for weights: proportional, rounded by largest remainder so they sum to `BUCKETS` exactly (ties to
 * the earlier variant). Weights are relative (0.8/0.2 and 80/20 are the same); all zero gives everything to the
 * first.
 */
export function bucketCounts(weights: readonly { variant: string; weight: number }[]): Map<string, number> {
  const total = weights.reduce((s, w) => s + Math.max(0, w.weight), 0);
  const counts = new Map<string, number>();
  if (weights.length === 0) return counts;
  if (total <= 0) {
    weights.forEach((w, i) => {
      counts.set(w.variant, i === 0 ? BUCKETS : 0);
    });
    return counts;
  }
  const exact = weights.map((w) => (Math.max(0, w.weight) / total) * BUCKETS);
  const floors = exact.map(Math.floor);
  let left = BUCKETS - floors.reduce((s, n) => s + n, 0);
  const order = exact
    .map((x, i) => ({ i, rem: x - Math.floor(x) }))
    .sort((a, b) => b.rem - a.rem || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    floors[i] = (floors[i] ?? 0) + 1;
    left--;
  }
  weights.forEach((w, i) => {
    counts.set(w.variant, (counts.get(w.variant) ?? 0) + (floors[i] ?? 0));
  });
  return counts;
}

/** The first allocation: contiguous ranges in the variants' order. */
export function allocate(weights: readonly { variant: string; weight: number }[]): BucketRange[] {
  const out: BucketRange[] = [];
  let at = 0;
  for (const [variant, n] of bucketCounts(weights)) {
    if (n > 0) out.push({ variant, from: at, to: at + n });
    at += n;
  }
  return out;
}

/**
 * A new allocation for new weights that keeps every unit it can where it was (see the file's comment). Variants
 * absent from `weights` lose all their buckets; new variants only take freed ones. Adjacent ranges of one variant
 * are merged.
 */
export function reallocate(
  previous: readonly BucketRange[],
  weights: readonly { variant: string; weight: number }[],
): BucketRange[] {
  const target = bucketCounts(weights);
  const kept: BucketRange[] = [];
  const freed: Array<{ from: number; to: number }> = [];
  const have = new Map<string, number>();
  for (const r of [...previous].sort((a, b) => a.from - b.from)) {
    const want = (target.get(r.variant) ?? 0) - (have.get(r.variant) ?? 0);
    const keep = Math.max(0, Math.min(want, r.to - r.from));
    if (keep > 0) kept.push({ variant: r.variant, from: r.from, to: r.from + keep });
    if (r.from + keep < r.to) freed.push({ from: r.from + keep, to: r.to });
    have.set(r.variant, (have.get(r.variant) ?? 0) + keep);
  }
  // Buckets no previous range covered (an allocation from elsewhere) are free as well.
  let covered = 0;
  for (const r of [...previous].sort((a, b) => a.from - b.from)) {
    if (r.from > covered) freed.push({ from: covered, to: r.from });
    covered = Math.max(covered, r.to);
  }
  if (covered < BUCKETS) freed.push({ from: covered, to: BUCKETS });
  freed.sort((a, b) => a.from - b.from);
  for (const [variant, n] of target) {
    let need = n - (have.get(variant) ?? 0);
    while (need > 0) {
      const slot = freed[0];
      if (!slot) break;
      const take = Math.min(need, slot.to - slot.from);
      kept.push({ variant, from: slot.from, to: slot.from + take });
      slot.from += take;
      if (slot.from >= slot.to) freed.shift();
      need -= take;
    }
  }
  kept.sort((a, b) => a.from - b.from);
  const merged: BucketRange[] = [];
  for (const r of kept) {
    const last = merged[merged.length - 1];
    if (last && last.variant === r.variant && last.to === r.from) last.to = r.to;
    else merged.push({ ...r });
  }
  return merged;
}

/** How many buckets go to each variant under an allocation. */
export function shares(allocation: readonly BucketRange[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of allocation) out.set(r.variant, (out.get(r.variant) ?? 0) + (r.to - r.from));
  return out;
}
