/**
 * Writing links between tags: stored once per pair, and resolved to the calls they connect in the same
 * transaction.
 */
import type { Transaction } from "kysely";
import type { Database, Store } from "../store/index.ts";
import { lockGraphWrites, materializeForLinks } from "./resolve.ts";
import type { LinkInput } from "./schemas.ts";
import { json } from "./views.ts";

/**
 * Adds links (idempotent: the same pair again keeps one link, with the newer metadata when given) and
 * resolves what they connect. A link from a tag to itself connects nothing and is ignored.
 */
export async function insertLinks(store: Store, links: LinkInput[], maxDepth: number): Promise<void> {
  const now = Date.now();
  // One row per pair: PostgreSQL refuses to upsert the same row twice in one statement.
  const unique = new Map<
    string,
    { upstreamTag: string; downstreamTag: string; metadata: string | null; createdAt: number }
  >();
  for (const l of links) {
    if (l.upstreamTag === l.downstreamTag) continue;
    const key = JSON.stringify([l.upstreamTag, l.downstreamTag]);
    const metadata = json(l.metadata) ?? unique.get(key)?.metadata ?? null;
    unique.set(key, { upstreamTag: l.upstreamTag, downstreamTag: l.downstreamTag, metadata, createdAt: now });
  }
  const rows = [...unique.values()];
  if (rows.length === 0) return;
  await store.db.transaction().execute(async (trx) => {
    await lockGraphWrites(trx, store.dialect.name);
    await writeLinks(trx, rows, maxDepth);
  });
}

/**
 * Upserts distinct links and resolves them, inside a transaction that already holds the graph's write lock
 * (an insert hook's: graph/continuations.ts links calls as they are stored).
 */
export async function writeLinks(
  trx: Transaction<Database>,
  rows: Array<{ upstreamTag: string; downstreamTag: string; metadata: string | null; createdAt: number }>,
  maxDepth: number,
): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) {
    await trx
      .insertInto("links")
      .values(rows.slice(i, i + 500))
      .onConflict((oc) =>
        oc.columns(["upstreamTag", "downstreamTag"]).doUpdateSet((eb) => ({
          metadata: eb.fn.coalesce(eb.ref("excluded.metadata"), eb.ref("links.metadata")),
        })),
      )
      .execute();
  }
  await materializeForLinks(trx, rows, maxDepth);
}
