/** Tables of the exports domain, as Kysely sees them (camelCase; snake_case in SQL). */
// biome-ignore lint/suspicious/noEmptyInterface: filled by the exports domain
export interface ExportsTables {}
