import { CamelCasePlugin, Kysely, Migrator, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";
import { migrations } from "../store/migrations/index.ts";
import { openSqlite } from "../store/sqlite-driver.ts";
import type { Dialect } from "./harness.ts";

/**
 * A Kysely on a database (a `freshDatabase`), migrated only up to `until`, as a store of an older version left
 * it: a migration's test writes rows the old way, destroys this, then opens the store (which migrates the rest).
 */
export async function olderStore(dialect: Dialect, url: string, until: string): Promise<Kysely<unknown>> {
  const db = new Kysely<unknown>({
    dialect:
      dialect === "sqlite"
        ? new SqliteDialect({ database: openSqlite(url) })
        : new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }),
    plugins: [new CamelCasePlugin()],
  });
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error } = await migrator.migrateTo(until);
  if (error) {
    await db.destroy();
    throw error;
  }
  return db;
}

/**
 * A `calls` row as an older version wrote it: the columns every version requires, then `fields` (added or
 * replacing), for the migration tests' rows.
 */
export function olderCall(id: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    startedAt: 1,
    upstream: "default",
    path: "/chat/completions",
    outcome: "ok",
    capture: "full",
    source: "proxy",
    ...fields,
  };
}
