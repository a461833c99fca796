/**
 * The store: one Kysely instance over SQLite (`node:sqlite`) or PostgreSQL (`pg`), migrated at open.
 */
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  CamelCasePlugin,
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  Migrator,
  PostgresDialect,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
  sql,
} from "kysely";
import type { Config } from "../config/index.ts";
import { type DialectHelpers, type DialectName, dialectHelpers } from "./dialect.ts";
import { isSqliteBusy } from "./errors.ts";
import { migrations } from "./migrations/index.ts";
import type { Database } from "./schema.ts";
import { openSqlite } from "./sqlite-driver.ts";

export type { DialectHelpers, DialectName } from "./dialect.ts";
export { isStoreUnavailable, OutageLog, storeUnavailableReason } from "./errors.ts";
export type * from "./schema.ts";

export interface Store {
  db: Kysely<Database>;
  dialect: DialectHelpers;
  /** Where the data lives, for the startup line (PostgreSQL URL without its password). */
  description: string;
  /**
   * Refreshes the query planner's statistics. SQLite needs them to choose, for example, walking the time index
   * rather than sorting every call of a common model; PostgreSQL's autovacuum keeps its own.
   */
  optimize(): Promise<void>;
  /**
   * Whether the store answers one trivial question (`select 1`) now; never throws. The one probe of
   * reachability: after a failed write it tells an unreachable store from one that refused the rows.
   */
  ping(): Promise<boolean>;
  /**
   * Bytes the store takes: SQLite, its pages (page_count × page_size, free pages included, as the file holds
   * them) and its WAL file; PostgreSQL, our schema's tables with their indexes and TOAST.
   */
  sizeBytes(): Promise<number>;
  /**
   * SQLite, on the proxy's connection once a writer thread (or a primary) writes the calls (calls/writer.ts): this
   * connection no longer checkpoints the WAL after its commits, the writer's does (`checkpoint`); and a write of
   * its own (a link, an annotation through the API) that finds the writer holding the lock waits for it off the
   * event loop, instead of in SQLite's busy handler, which sleeps on the loop (1, 2, 5, 10 ms...) and so stalls
   * every request in flight while the writer commits a batch. PostgreSQL: nothing to do.
   */
  yieldToWriter(): Promise<void>;
  /** SQLite: copies the WAL back into the database file where no reader needs it (PASSIVE). PostgreSQL: nothing. */
  checkpoint(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Kysely's SQLite driver, whose transactions take the write lock as they begin (BEGIN IMMEDIATE). Since calls are
 * written by a writer thread (or the primary of `serve --workers N`), more than one connection writes: a deferred
 * transaction that read first and then wrote after another connection's commit fails with SQLITE_BUSY at once,
 * which the busy timeout cannot wait out; one that waits for the lock from the start simply waits its turn.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  /** Set by `yieldToWriter`: SQLITE_BUSY is waited out here, asynchronously, not by SQLite's busy handler. */
  busyOffLoop = false;
  #inTransaction = false;

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    // The connection waits out another's lock when `busyOffLoop` (acquireConnection).
    await connection.executeQuery(CompiledQuery.raw("begin immediate"));
    this.#inTransaction = true;
  }

  override async commitTransaction(connection: DatabaseConnection): Promise<void> {
    this.#inTransaction = false;
    await super.commitTransaction(connection);
  }

  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    this.#inTransaction = false;
    await super.rollbackTransaction(connection);
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await super.acquireConnection();
    if (!this.busyOffLoop) return connection;
    // A statement outside a transaction that found the lock taken did nothing: it is tried again. Inside one,
    // `begin immediate` already holds the lock, so nothing there waits for it.
    return {
      executeQuery: (query) =>
        this.#inTransaction
          ? connection.executeQuery(query)
          : this.#unlessBusy(() => connection.executeQuery(query)),
      streamQuery: (query, chunkSize) => connection.streamQuery(query, chunkSize),
    };
  }

  async #unlessBusy<T>(run: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + BUSY_WAIT_MS;
    for (let pause = 1; ; pause = Math.min(pause * 2, 16)) {
      try {
        return await run();
      } catch (err) {
        if (!isSqliteBusy(err) || Date.now() >= deadline) throw err;
      }
      await sleep(pause);
    }
  }
}

/** How long a write waits for another connection's lock before it fails, as `busy_timeout` did (sqlite-driver.ts). */
const BUSY_WAIT_MS = 5000;

class ImmediateSqliteDialect extends SqliteDialect {
  readonly driver: ImmediateSqliteDriver;
  constructor(config: SqliteDialectConfig) {
    super(config);
    this.driver = new ImmediateSqliteDriver(config);
  }
  override createDriver(): Driver {
    return this.driver;
  }
}

/** See the pool's `connect` listener in `openStore`. */
function ignoreConnectionError(): void {}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "postgres (unparseable URL)";
  }
}

/** Opens the store described by `config.db` and applies pending migrations. */
export async function openStore(dbConfig: Config["db"]): Promise<Store> {
  let db: Kysely<Database>;
  let sqliteDialect: ImmediateSqliteDialect | undefined;
  let name: DialectName;
  let description: string;
  if (dbConfig.kind === "postgres") {
    name = "postgres";
    description = `PostgreSQL ${redactUrl(dbConfig.url)}`;
    // Loaded only for PostgreSQL: a server on the embedded store does not carry a driver it never uses.
    const { default: pg } = await import("pg");
    // int8 (bigint) columns hold millisecond timestamps, which fit a JS number; pg would hand back strings.
    pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number.parseInt(v, 10));
    const pool = new pg.Pool({
      connectionString: dbConfig.url,
      max: 10,
      // A database that accepts TCP but never answers (stalled, overloaded, a black-holed network) fails a
      // connect, or a wait for a free client, after this long instead of holding the request forever.
      connectionTimeoutMillis: 5000,
      // Lets the kernel notice a peer that vanished without closing the connection (a host gone, a NAT dropped).
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    // A connection the server drops (restart, `pg_ctl stop -m immediate`, a failover) makes `pg` emit `error`
    // on its client, checked out or not; with no listener that event ends the process. The pool listens only
    // on idle clients, so every client gets its own listener the moment it is created. The error needs no
    // handling here: the query in flight, if any, fails with it, the client is no longer queryable and the
    // pool discards it when it is released, and callers classify the failure (store/errors.ts).
    pool.on("connect", (client) => client.on("error", ignoreConnectionError));
    pool.on("error", ignoreConnectionError);
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), plugins: [new CamelCasePlugin()] });
  } else {
    name = "sqlite";
    description = `SQLite ${dbConfig.file}`;
    if (dbConfig.file !== ":memory:") fs.mkdirSync(path.dirname(dbConfig.file), { recursive: true });
    sqliteDialect = new ImmediateSqliteDialect({ database: openSqlite(dbConfig.file) });
    db = new Kysely<Database>({
      dialect: sqliteDialect,
      plugins: [new CamelCasePlugin()],
    });
  }
  await migrate(db);
  const optimize = async () => {
    // analysis_limit bounds the work to a sample of each index, so this stays fast on large stores.
    if (name !== "sqlite") return;
    await sql`pragma analysis_limit = 1000`.execute(db);
    // `optimize` refreshes statistics that exist; a store never analyzed needs a first ANALYZE.
    const analyzed = await sql`select 1 from sqlite_master where name = 'sqlite_stat1'`.execute(db);
    await (analyzed.rows.length ? sql`pragma optimize = 0x10002` : sql`analyze`).execute(db);
  };
  await optimize();
  const ping = () =>
    sql`select 1`.execute(db).then(
      () => true,
      () => false,
    );
  const file = dbConfig.kind === "sqlite" ? dbConfig.file : undefined;
  const sizeBytes = () => storeSize(db, name, file);
  const sqliteOnly = (query: ReturnType<typeof sql>) => async () => {
    if (name === "sqlite") await query.execute(db);
  };
  return {
    db,
    dialect: dialectHelpers(name),
    description,
    optimize,
    ping,
    sizeBytes,
    yieldToWriter: async () => {
      if (!sqliteDialect) return;
      await sql`pragma wal_autocheckpoint = 0`.execute(db);
      await sql`pragma busy_timeout = 0`.execute(db);
      sqliteDialect.driver.busyOffLoop = true;
    },
    checkpoint: sqliteOnly(sql`pragma wal_checkpoint(PASSIVE)`),
    close: () => db.destroy(),
  };
}

async function storeSize(db: Kysely<Database>, name: DialectName, file?: string): Promise<number> {
  if (name === "postgres") {
    const { rows } = await sql<{ bytes: string | number | null }>`
      select sum(pg_total_relation_size(c.oid)) as bytes from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = current_schema() and c.relkind in ('r', 'm')`.execute(db);
    return Number(rows[0]?.bytes ?? 0);
  }
  const count = await sql<{ pageCount: number }>`pragma page_count`.execute(db);
  const size = await sql<{ pageSize: number }>`pragma page_size`.execute(db);
  let wal = 0;
  if (file && file !== ":memory:") {
    try {
      wal = fs.statSync(`${file}-wal`).size;
    } catch {}
  }
  return Number(count.rows[0]?.pageCount ?? 0) * Number(size.rows[0]?.pageSize ?? 0) + wal;
}

/**
 * Applies pending migrations. Kysely's migrator holds a lock row while it runs, so several instances
 * starting at once against one PostgreSQL database apply each migration exactly once.
 */
async function migrate(db: Kysely<Database>): Promise<void> {
  const migrator = new Migrator({
    db: db as unknown as Kysely<unknown>,
    provider: { getMigrations: async () => migrations },
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === "Error");
    // No migration failed: the migrator could not reach the database. Its error, unwrapped, keeps the code
    // (ECONNREFUSED...) by which `serve` knows to wait for the database (cli/wait-for-store.ts).
    if (!failed) throw error;
    throw new Error(`database migration ${failed?.migrationName ?? ""} failed: ${String(error)}`, {
      cause: error,
    });
  }
}
