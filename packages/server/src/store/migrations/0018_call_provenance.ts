import type { Kysely } from "kysely";

/**
 * Configuration provenance: each call records the hash of the effective non-secret configuration that captured
 * it (calls/provenance.ts). Older calls keep null. The index serves the trends page's config changes (each hash
 * with its first and last call) without reading the calls.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("calls").addColumn("config_hash", "text").execute();
  await db.schema
    .createIndex("calls_config_hash")
    .on("calls")
    .columns(["config_hash", "started_at"])
    .execute();
}
