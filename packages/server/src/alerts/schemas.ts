/** Alert rules as the API takes them, and alerts (episodes) as it answers them. */
import { z } from "zod";

const WINDOW = /^([1-9][0-9]{0,3})(m|h|d)$/;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `"15m"`, `"1h"`, `"1d"` in ms. */
export function windowMs(window: string): number {
  const m = WINDOW.exec(window);
  if (!m) throw new Error(`not a window: ${window}`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

const rate = z.number().min(0).max(1);
const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/, "letters, digits, '.', '_', ':', '-'; at most 100");

export const conditionSchema = z.discriminatedUnion("kind", [
  /** The share of the window's checked calls whose `check:<check>` annotation failed (reward 0), above `above`. */
  z.object({ kind: z.literal("rate"), check: name, above: rate }).strict(),
  /** Calls in the window flagged by a floor check (`floor` annotation with reward 0): more than `above`. */
  z.object({ kind: z.literal("floor"), above: z.number().int().min(0).default(0) }).strict(),
  /** The mean of an annotation over the window, down by more than `by` against the same window a week before. */
  z.object({ kind: z.literal("reward-drop"), annotation: name, by: z.number().positive() }).strict(),
  /** The share of the window's calls whose outcome is not `ok`, above `above`. */
  z.object({ kind: z.literal("error-rate"), above: rate }).strict(),
]);
export type AlertCondition = z.infer<typeof conditionSchema>;

export const alertFilterSchema = z
  .object({
    model: z.string().min(1).max(200).optional(),
    upstream: z.string().min(1).max(200).optional(),
    tags: z.array(z.string().min(1).max(1000)).max(20).optional(),
    experiment: z.string().min(1).max(200).optional(),
    variant: z.string().min(1).max(200).optional(),
  })
  .strict();
export type AlertFilter = z.infer<typeof alertFilterSchema>;

export const alertRuleSchema = z
  .object({
    name,
    condition: conditionSchema,
    window: z.string().regex(WINDOW, 'a number and m, h or d: "15m", "1h", "1d"'),
    /** Fewer calls in the window (for `reward-drop`, in either window) and the condition does not hold. */
    minCalls: z.number().int().min(1).max(1_000_000).default(1),
    filter: alertFilterSchema.optional(),
    /** Where this rule's alerts are POSTed; default INTERSEBD_ALERTS_WEBHOOK_URL. */
    webhookUrl: z.url({ protocol: /^https?$/ }).optional(),
  })
  .strict();
export type AlertRule = z.infer<typeof alertRuleSchema>;
export type AlertRuleInput = z.input<typeof alertRuleSchema>;

export const alertRuleViewSchema = alertRuleSchema.extend({ createdAt: z.string(), updatedAt: z.string() });
export type AlertRuleView = z.infer<typeof alertRuleViewSchema>;
export const alertRuleListSchema = z.object({ rules: z.array(alertRuleViewSchema) });

export const alertViewSchema = z.object({
  id: z.string(),
  rule: z.string(),
  status: z.enum(["open", "resolved"]),
  condition: z.string(),
  /** The measured value when it fired (a rate, a count of flagged calls, or a drop in mean). */
  value: z.number(),
  /** The value at the latest evaluation. */
  lastValue: z.number().nullable(),
  threshold: z.number(),
  window: z.string(),
  calls: z.number(),
  startedAt: z.string(),
  resolvedAt: z.string().nullable(),
});
export type AlertView = z.infer<typeof alertViewSchema>;
export const alertListSchema = z.object({ open: z.number(), alerts: z.array(alertViewSchema) });

export const alertListQuerySchema = z
  .object({
    status: z.enum(["open", "resolved"]).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();
