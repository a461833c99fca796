/**
 * Every difference between SQLite and PostgreSQL that our queries must know about lives here,
 * so that domain code writes one query for both.
 */
import { type Expression, type RawBuilder, type SqlBool, sql } from "kysely";

export type DialectName = "sqlite" | "postgres";

export interface DialectHelpers {
  name: DialectName;
  /** Case-insensitive substring match: SQLite's LIKE already ignores ASCII case, PostgreSQL needs ILIKE. */
  containsText(column: Expression<unknown>, needle: string): RawBuilder<SqlBool>;
  /** PostgreSQL can claim job rows without blocking other instances; SQLite has one writer anyway. */
  supportsSkipLocked: boolean;
  /**
   * SQLite commits a batch in this process, in one synchronous transaction started as the batch leaves the
   * queue; PostgreSQL's batches spend a network round trip in flight, and the write-behind recorder journals
   * them on disk first.
   */
  commitsInProcess: boolean;
}

/** Escapes LIKE wildcards so user text is matched literally. */
export function likePattern(needle: string): string {
  return `%${needle.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export function dialectHelpers(name: DialectName): DialectHelpers {
  const op = name === "postgres" ? sql`ilike` : sql`like`;
  return {
    name,
    containsText: (column, needle) => sql<SqlBool>`${column} ${op} ${likePattern(needle)} escape '\\'`,
    supportsSkipLocked: name === "postgres",
    commitsInProcess: name === "sqlite",
  };
}
