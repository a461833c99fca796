/**
 * Keeping the materialized resolution in step with the link depth bound the server starts with.
 */
import type { Store } from "../store/index.ts";
import type { Logger } from "../util/log.ts";
import { lockGraphWrites, materializeForAnnotations } from "./resolve.ts";

const DEPTH_SETTING = "graph.linkDepth";

/**
 * Makes the materialized resolution (`call_annotations`) match the depth bound in force. It records the bound
 * it was built with; when the server starts with another one, the pairs are rebuilt from every annotation, so
 * a smaller bound drops pairs and a larger one adds them. All instances sharing a store must use one bound.
 * @returns the number of annotations re-resolved (0 when nothing had to change).
 */
export async function ensureResolutionDepth(store: Store, maxDepth: number, log?: Logger): Promise<number> {
  const recorded = await store.db
    .selectFrom("settings")
    .select("value")
    .where("key", "=", DEPTH_SETTING)
    .executeTakeFirst();
  if (recorded?.value === String(maxDepth)) return 0;
  let resolved = 0;
  await store.db.transaction().execute(async (trx) => {
    await lockGraphWrites(trx, store.dialect.name);
    if (recorded !== undefined) {
      log?.info(
        `INTERSEBD_LINK_DEPTH changed from ${recorded.value} to ${maxDepth}: re-resolving annotations`,
      );
      await trx.deleteFrom("callAnnotations").execute();
      let after = "";
      for (;;) {
        const ids = (
          await trx
            .selectFrom("annotations")
            .select("id")
            .where("id", ">", after)
            .orderBy("id")
            .limit(1000)
            .execute()
        ).map((r) => r.id);
        if (ids.length === 0) break;
        await materializeForAnnotations(trx, ids, maxDepth);
        resolved += ids.length;
        after = ids.at(-1) as string;
      }
    }
    await trx
      .insertInto("settings")
      .values({ key: DEPTH_SETTING, value: String(maxDepth) })
      .onConflict((oc) => oc.column("key").doUpdateSet({ value: String(maxDepth) }))
      .execute();
  });
  return resolved;
}
