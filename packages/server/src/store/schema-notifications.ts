/** Tables of the notifications domain, as Kysely sees them (camelCase; snake_case in SQL). */
// biome-ignore lint/suspicious/noEmptyInterface: filled by the notifications domain
export interface NotificationsTables {}
