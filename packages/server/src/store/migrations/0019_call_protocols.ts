import type { Kysely } from "kysely";

/**
 * Calls of other protocols than Chat Completions (OpenAI Responses, Anthropic Messages, OpenTelemetry spans):
 * `protocol` says which, `original_request` / `original_response` keep the bodies as received (capture mode
 * applied), and `request` / `response` hold them converted to the chat shape every feature reads. A call that
 * could not be converted keeps its originals, null chat bodies, and why in `conversion_error`. Existing rows are
 * chat, whose request and response are their originals (so theirs stay null).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("calls")
    .addColumn("protocol", "text", (c) => c.notNull().defaultTo("chat"))
    .execute();
  await db.schema.alterTable("calls").addColumn("original_request", "text").execute();
  await db.schema.alterTable("calls").addColumn("original_response", "text").execute();
  await db.schema.alterTable("calls").addColumn("conversion_error", "text").execute();
}
