import type { Kysely } from "kysely";

// Placeholder kept so migration order is fixed while the domain is being built; fill before it ships.
export async function up(_db: Kysely<unknown>): Promise<void> {}
