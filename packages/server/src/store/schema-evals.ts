/** Tables of the evals domain, as Kysely sees them (camelCase; snake_case in SQL). */
// biome-ignore lint/suspicious/noEmptyInterface: filled by the evals domain
export interface EvalsTables {}
