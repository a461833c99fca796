/**
 * Adapts Node's built-in `node:sqlite` to the interface Kysely's SqliteDialect expects (that of
 * better-sqlite3), so the embedded store needs no native addon.
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import type { SqliteDatabase, SqliteStatement } from "kysely";

// node:sqlite binds only null, numbers, bigints, strings and bytes; Kysely may hand it booleans.
function bindable(params: ReadonlyArray<unknown>): SQLInputValue[] {
  return params.map((p) => (typeof p === "boolean" ? Number(p) : (p as SQLInputValue)));
}

class NodeSqliteStatement implements SqliteStatement {
  readonly reader: boolean;
  readonly #stmt: StatementSync;
  constructor(stmt: StatementSync) {
    this.#stmt = stmt;
    this.reader = stmt.columns().length > 0;
  }
  all(parameters: ReadonlyArray<unknown>): unknown[] {
    return this.#stmt.all(...bindable(parameters));
  }
  run(parameters: ReadonlyArray<unknown>) {
    const r = this.#stmt.run(...bindable(parameters));
    return { changes: r.changes, lastInsertRowid: r.lastInsertRowid };
  }
  iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown> {
    return this.#stmt.iterate(...bindable(parameters)) as IterableIterator<unknown>;
  }
}

const STATEMENT_CACHE_SIZE = 200;

/**
 * Opens a SQLite file with the settings a concurrent web server wants (WAL, a busy timeout).
 * Prepared statements are cached by SQL text (as better-sqlite3 users do by hand): the write-behind batches
 * repeat the same few statements, and preparing them again each time showed up in profiles.
 */
export function openSqlite(file: string): SqliteDatabase & { raw: DatabaseSync } {
  const raw = new DatabaseSync(file);
  // Temporary B-trees (DISTINCT, UNION, statement journals of multi-row inserts) stay in memory: on disk they cost
  // a write system call per page, which profiles showed as a third of the write-behind batch.
  // auto_vacuum = INCREMENTAL lets retention hand freed pages back to the file system (`incremental_vacuum`); it
  // takes effect only on a new file and only when set before WAL is, and is a no-op on an existing one.
  // The busy timeout comes first: another process or thread may be writing the file (a writer thread, a second
  // instance), and the pragmas after it would otherwise fail at once with "database is locked".
  raw.exec(
    "PRAGMA busy_timeout = 5000; PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;",
  );
  const cache = new Map<string, NodeSqliteStatement>();
  return {
    raw,
    close: () => {
      cache.clear();
      raw.close();
    },
    prepare: (sql: string) => {
      let stmt = cache.get(sql);
      if (!stmt) {
        stmt = new NodeSqliteStatement(raw.prepare(sql));
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
        cache.set(sql, stmt);
      }
      return stmt;
    },
  };
}
