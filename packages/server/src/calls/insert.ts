/**
 * The one write of the `calls` table (and its tags): the recorder's batches, their replays and `POST /api/calls`
 * all go through `insertCalls`. What other domains must do in the same transaction (the graph materializing
 * annotations for new calls) comes in as an `InsertHook`, wired at composition (server.ts), so that calls/
 * knows nothing of the graph.
 */
import type { CompiledQuery, Transaction } from "kysely";
import { withPreview } from "../chat/preview.ts";
import type { Database, NewCallRow, Store } from "../store/index.ts";
import { customTagsOf } from "./record.ts";

/** Work of another domain that runs inside every insert's transaction. */
export interface InsertHook {
  /** Runs first, before any row is written (the graph takes its write lock here). */
  begin(trx: Transaction<Database>): Promise<void>;
  /**
   * Runs after each chunk with the ids of the calls it stored for the first time (never empty), and those rows
   * (so that a hook can decide without reading them back).
   */
  afterInsert(trx: Transaction<Database>, callIds: string[], rows: NewCallRow[]): Promise<void>;
}

/** Several domains' hooks as one, run in the order given (the graph's first: it takes the write lock). */
export function chainHooks(...hooks: InsertHook[]): InsertHook {
  return {
    begin: async (trx) => {
      for (const h of hooks) await h.begin(trx);
    },
    afterInsert: async (trx, callIds, rows) => {
      for (const h of hooks) await h.afterInsert(trx, callIds, rows);
    },
  };
}

/**
 * Splits a batch into chunks whose sizes are powers of two, at most 128 (32 columns × 128 rows stays under
 * SQLite's bound-parameter limit): only eight distinct multi-row INSERTs ever exist, each prepared once and cached.
 * Batches of whatever size the load made filled the statement cache with hundreds of large programs.
 */
function* powerOfTwoChunks<T>(rows: T[]): Generator<T[]> {
  let i = 0;
  while (i < rows.length) {
    let size = 128;
    while (size > rows.length - i) size /= 2;
    yield rows.slice(i, i + size);
    i += size;
  }
}

type Compiled = CompiledQuery<{ id: string }>;
const insertStatements = new WeakMap<Store, Map<string, Compiled>>();

/**
 * The INSERT of `n` calls with these columns, compiled by Kysely once and then bound to each chunk's values:
 * building the query for every chunk (parsing 128 rows of 32 values, then compiling them) cost a tenth of the
 * write-behind path's CPU. Null placeholders compile to one parameter per value, in row order.
 */
function compiledInsert(store: Store, columns: string[], n: number): Compiled {
  let cache = insertStatements.get(store);
  if (!cache) {
    cache = new Map();
    insertStatements.set(store, cache);
  }
  const key = `${n}:${columns.join(",")}`;
  let compiled = cache.get(key);
  if (!compiled) {
    const placeholder = Object.fromEntries(columns.map((c) => [c, null])) as unknown as NewCallRow;
    compiled = store.db
      .insertInto("calls")
      .values(Array.from({ length: n }, () => placeholder))
      .onConflict((oc) => oc.column("id").doNothing())
      .returning("id")
      .compile();
    if (compiled.parameters.length !== n * columns.length) throw new Error("unexpected INSERT parameters");
    cache.set(key, compiled);
  }
  return compiled;
}

/** Rows bound by position need the same columns in the same order; rows from `toCallRow` always have them. */
function sameColumns(rows: NewCallRow[], columns: string[]): boolean {
  return rows.every((r) => {
    const keys = Object.keys(r);
    return keys.length === columns.length && keys.every((k, i) => k === columns[i]);
  });
}

/**
 * Inserts calls and their tags, and runs `hook` in the same transaction (the server's resolves links and
 * annotations that arrived before them); safe to repeat with the same rows. A call is stored once, as first written: a later row with the same id
 * (a replay, or a client reusing an id, even within one batch) is ignored, tags included, so that a call
 * never answers to tags it does not show.
 */
export async function insertCalls(store: Store, rows: NewCallRow[], hook?: InsertHook): Promise<void> {
  if (rows.length === 0) return;
  const seen = new Set<string>();
  const unique = rows.filter((r) => !seen.has(r.id) && seen.add(r.id)).map(withPreview);
  await store.db.transaction().execute(async (trx) => {
    await hook?.begin(trx);
    for (const chunk of powerOfTwoChunks(unique)) {
      const columns = Object.keys(chunk[0] as NewCallRow);
      const inserted = sameColumns(chunk, columns)
        ? (
            await trx.executeQuery<{ id: string }>({
              ...compiledInsert(store, columns, chunk.length),
              parameters: chunk.flatMap((r) => columns.map((c) => r[c as keyof NewCallRow])),
            })
          ).rows
        : await trx
            .insertInto("calls")
            .values(chunk)
            .onConflict((oc) => oc.column("id").doNothing())
            .returning("id")
            .execute();
      const ids = new Set(inserted.map((r) => r.id));
      const fresh = chunk.filter((r) => ids.has(r.id));
      if (fresh.length === 0) continue;
      const tags = fresh.flatMap((r) => customTagsOf(r).map((tag) => ({ tag, callId: r.id })));
      for (const tagChunk of powerOfTwoChunks(tags)) {
        await trx
          .insertInto("callTags")
          .values(tagChunk)
          .onConflict((oc) => oc.columns(["tag", "callId"]).doNothing())
          .execute();
      }
      await hook?.afterInsert(
        trx,
        fresh.map((r) => r.id),
        fresh,
      );
    }
  });
}
