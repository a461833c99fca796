/**
 * What a rule's condition measures over its window, read from the store: calls by `started_at` in
 * [now - window, now), narrowed by the rule's filter; check and floor results as the issue 17 contract stores
 * them (annotations `check:<name>` and `floor`, reward 0 = failed / flagged).
 */
import type { ExpressionBuilder, SelectQueryBuilder } from "kysely";
import type { Database, Store } from "../store/index.ts";
import { type AlertFilter, type AlertRule, windowMs } from "./schemas.ts";

const WEEK_MS = 7 * 86_400_000;

export interface Measurement {
  holds: boolean;
  value: number;
  threshold: number;
  /** Calls the value is measured over (for `reward-drop`, the current window's). */
  calls: number;
}

type CallsQuery<O> = SelectQueryBuilder<Database, "calls", O>;

function narrow<Q extends CallsQuery<object>>(
  q: Q,
  filter: AlertFilter | undefined,
  from: number,
  to: number,
): Q {
  let out = q.where("calls.startedAt", ">=", from).where("calls.startedAt", "<", to) as Q;
  if (!filter) return out;
  if (filter.model !== undefined) {
    const model = filter.model;
    out = out.where((eb: ExpressionBuilder<Database, "calls">) =>
      eb.or([eb("calls.requestedModel", "=", model), eb("calls.servedModel", "=", model)]),
    ) as Q;
  }
  if (filter.upstream !== undefined) out = out.where("calls.upstream", "=", filter.upstream) as Q;
  if (filter.experiment !== undefined) out = out.where("calls.experiment", "=", filter.experiment) as Q;
  if (filter.variant !== undefined) out = out.where("calls.variant", "=", filter.variant) as Q;
  // `call_keys`: a call's experiment and variant tags are derived from its columns, not `call_tags` rows.
  for (const tag of filter.tags ?? [])
    out = out.where("calls.id", "in", (eb: ExpressionBuilder<Database, "calls">) =>
      eb.selectFrom("callKeys").select("callKeys.callId").where("callKeys.tag", "=", tag),
    ) as Q;
  return out;
}

/** Calls in the window with an annotation named `name`, and of those, the ones where it has reward 0. */
async function annotated(
  store: Store,
  rule: AlertRule,
  annotation: string,
  from: number,
  to: number,
): Promise<{ n: number; zero: number; mean: number | null }> {
  const q = store.db
    .selectFrom("calls")
    .innerJoin("callAnnotations", "callAnnotations.callId", "calls.id")
    .innerJoin("annotations", "annotations.id", "callAnnotations.annotationId")
    .where("annotations.name", "=", annotation)
    .where("annotations.numericReward", "is not", null)
    .select((eb) => [
      eb.fn.count<number | string>("calls.id").distinct().as("n"),
      eb.fn
        .count<number | string>(
          eb.case().when("annotations.numericReward", "=", 0).then(eb.ref("calls.id")).end(),
        )
        .distinct()
        .as("zero"),
      eb.fn.avg<number | string | null>("annotations.numericReward").as("mean"),
    ]);
  const row = await narrow(q, rule.filter, from, to).executeTakeFirst();
  return {
    n: Number(row?.n ?? 0),
    zero: Number(row?.zero ?? 0),
    mean: row?.mean === null || row?.mean === undefined ? null : Number(row.mean),
  };
}

/** Measures `rule` at `now` (ms). */
export async function measure(store: Store, rule: AlertRule, now: number): Promise<Measurement> {
  const to = now;
  const from = now - windowMs(rule.window);
  const c = rule.condition;
  switch (c.kind) {
    case "rate": {
      const { n, zero } = await annotated(store, rule, `check:${c.check}`, from, to);
      const value = n === 0 ? 0 : zero / n;
      return { holds: n >= rule.minCalls && value > c.above, value, threshold: c.above, calls: n };
    }
    case "floor": {
      const { n, zero } = await annotated(store, rule, "floor", from, to);
      return { holds: n >= rule.minCalls && zero > c.above, value: zero, threshold: c.above, calls: n };
    }
    case "reward-drop": {
      const [cur, before] = await Promise.all([
        annotated(store, rule, c.annotation, from, to),
        annotated(store, rule, c.annotation, from - WEEK_MS, to - WEEK_MS),
      ]);
      const enough = cur.n >= rule.minCalls && before.n >= rule.minCalls;
      const value = cur.mean !== null && before.mean !== null ? before.mean - cur.mean : 0;
      return { holds: enough && value > c.by, value, threshold: c.by, calls: cur.n };
    }
    case "error-rate": {
      const q = store.db
        .selectFrom("calls")
        .select((eb) => [
          eb.fn.countAll<number | string>().as("n"),
          eb.fn
            .count<number | string>(
              eb.case().when("calls.outcome", "!=", "ok").then(eb.ref("calls.id")).end(),
            )
            .as("failed"),
        ]);
      const row = await narrow(q, rule.filter, from, to).executeTakeFirst();
      const n = Number(row?.n ?? 0);
      const value = n === 0 ? 0 : Number(row?.failed ?? 0) / n;
      return { holds: n >= rule.minCalls && value > c.above, value, threshold: c.above, calls: n };
    }
  }
}
