/**
 * The tags a call routed through an experiment answers to: `exp:<name>` and `exp:<name>:<variant>`, so that
 * lists, datasets, links, annotations and alerts reach an experiment's or a variant's calls by tag as any other.
 * They are not stored as `call_tags` rows (two rows per call were most of what routing added to the proxy's CPU):
 * they are derived from the call's `experiment` and `variant` columns, in the `call_keys` view and in the queries
 * below, which use the partial expression indexes `calls_experiment_tag` and `calls_variant_tag` (migration 0021).
 * Experiment and variant names hold no ':' (experiments/schemas.ts), so each such tag names one experiment or one
 * variant. The call's `tags` JSON still lists them, as the web app and exports show it.
 */
const PREFIX = "exp:";

/** The tags a call of `experiment` (and `variant`) answers to; none outside an experiment. */
export function experimentTags(
  experiment: string | null | undefined,
  variant: string | null | undefined,
): string[] {
  if (!experiment) return [];
  return variant
    ? [`${PREFIX}${experiment}`, `${PREFIX}${experiment}:${variant}`]
    : [`${PREFIX}${experiment}`];
}

/**
 * The SQL of the two tags of a call aliased `c`, null outside an experiment: the expressions of the indexes
 * `calls_experiment_tag` and `calls_variant_tag`, to be written exactly so (an expression index serves only the
 * same expression). Compared with another table's column, the call is the outer side (retention's comparisons).
 */
export function experimentTagSql(c: string): [experiment: string, variant: string] {
  return [`'exp:' || ${c}.experiment`, `'exp:' || ${c}.experiment || ':' || ${c}.variant`];
}

/**
 * The SQL conditions under which a call aliased `c` answers to the tag `tag` (a column of another table), through
 * its experiment and through its variant, written so that both databases search the calls by the indexes:
 * `tag || ''`, as SQLite would otherwise compare with the column's text affinity, which an expression index (no
 * affinity) cannot serve; and no `experiment is not null` (SQLite would then read every routed call through
 * `calls_experiment`): the concatenations are null outside an experiment, which implies the indexes' predicates.
 */
export function experimentTagConditions(c: string, tag: string): [experiment: string, variant: string] {
  return experimentTagSql(c).map((e) => `${e} = ${tag} || ''`) as [string, string];
}
