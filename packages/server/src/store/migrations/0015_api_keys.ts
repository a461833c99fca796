import type { Kysely } from "kysely";

/**
 * Scoped API keys (keys/): each key's name, scopes and optional upstream restriction, and the SHA-256 of its
 * secret (never the secret itself, which is shown once at creation).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("api_keys")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull())
    // Hex SHA-256 of the secret: what a presented key is looked up by.
    .addColumn("secret_hash", "text", (c) => c.notNull().unique())
    // JSON array of scopes (`ingest`, `read`, `annotate`, `admin`).
    .addColumn("scopes", "text", (c) => c.notNull())
    // JSON array of upstream names the key may proxy to; null: any.
    .addColumn("upstreams", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    // Coarse: written at most once a minute per key.
    .addColumn("last_used_at", "bigint")
    .addColumn("revoked_at", "bigint")
    .execute();
}
