/**
 * Giving space back after retention. SQLite reuses the pages that deletes free, so a file under steady traffic
 * stops growing once retention applies; a file created with `auto_vacuum = INCREMENTAL` (every file this server
 * creates, store/sqlite-driver.ts) also hands them back to the file system here, a few thousand pages per
 * statement so that no single statement holds the write lock for long. A passive checkpoint then moves the WAL
 * into the file without waiting for readers. PostgreSQL: autovacuum marks the deleted tuples reusable; nothing
 * to do (README.md says why).
 */
import { sql } from "kysely";
import type { Store } from "../store/index.ts";

/** Pages per `incremental_vacuum` statement: 2,000 pages are 8 MB at the default 4 KiB page. */
const PAGES_PER_STEP = 2000;

export interface Reclaimed {
  /** Pages handed back to the file system (SQLite with incremental auto_vacuum), else 0. */
  pages: number;
}

/** SQLite only; answers what it did. `pause` runs between two steps (the job's pause between batches). */
export async function reclaimSpace(
  store: Store,
  pause: () => Promise<void> = async () => {},
): Promise<Reclaimed> {
  if (store.dialect.name !== "sqlite") return { pages: 0 };
  const db = store.db;
  const mode = await sql<{ autoVacuum: number }>`pragma auto_vacuum`.execute(db);
  let pages = 0;
  if (Number(mode.rows[0]?.autoVacuum) === 2) {
    for (;;) {
      const free = await sql<{ freelistCount: number }>`pragma freelist_count`.execute(db);
      const n = Math.min(Number(free.rows[0]?.freelistCount ?? 0), PAGES_PER_STEP);
      if (n <= 0) break;
      await sql.raw(`pragma incremental_vacuum(${n})`).execute(db);
      pages += n;
      await pause();
    }
  }
  await sql`pragma wal_checkpoint(PASSIVE)`.execute(db);
  return { pages };
}
