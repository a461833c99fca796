/** The alert rules in the store: one row per name, its definition as JSON. */
import type { Store } from "../store/index.ts";
import { type AlertRule, type AlertRuleView, alertRuleSchema } from "./schemas.ts";

const view = (r: { definition: string; createdAt: number; updatedAt: number }): AlertRuleView => ({
  ...alertRuleSchema.parse(JSON.parse(r.definition)),
  createdAt: new Date(Number(r.createdAt)).toISOString(),
  updatedAt: new Date(Number(r.updatedAt)).toISOString(),
});

/** Creates the rule, or replaces the one of that name; `created` says which. */
export async function putRule(
  store: Store,
  rule: AlertRule,
): Promise<{ rule: AlertRuleView; created: boolean }> {
  const now = Date.now();
  const definition = JSON.stringify(rule);
  return store.db.transaction().execute(async (trx) => {
    const old = await trx
      .selectFrom("alertRules")
      .select("name")
      .where("name", "=", rule.name)
      .executeTakeFirst();
    await trx
      .insertInto("alertRules")
      .values({ name: rule.name, definition, createdAt: now, updatedAt: now })
      .onConflict((oc) => oc.column("name").doUpdateSet({ definition, updatedAt: now }))
      .execute();
    const row = await trx
      .selectFrom("alertRules")
      .selectAll()
      .where("name", "=", rule.name)
      .executeTakeFirstOrThrow();
    return { rule: view(row), created: !old };
  });
}

export async function listRules(store: Store): Promise<AlertRuleView[]> {
  const rows = await store.db.selectFrom("alertRules").selectAll().orderBy("name").execute();
  return rows.map(view);
}

/** Deletes the rule; an episode it left open is resolved at the next evaluation. Says whether there was one. */
export async function deleteRule(store: Store, name: string): Promise<boolean> {
  const r = await store.db.deleteFrom("alertRules").where("name", "=", name).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
