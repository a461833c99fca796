/**
 * Custom evaluation checks: a named function that scores one item (a logged request, the candidate's response,
 * and the reference answer when the dataset has one). `intersebd eval` runs them next to its built-in checks.
 */

/**
 * One item a check scores.
 *
 * @example
 * ```ts
 * const item: CheckItem = { request: { messages }, response: completion, reference: loggedCompletion };
 * ```
 */
export interface CheckItem {
  /** The Chat Completions request body. */
  request: Record<string, unknown>;
  /** The `chat.completion` object being judged. */
  response: Record<string, unknown>;
  /** The logged baseline answer or a correction, when there is one. */
  reference?: unknown;
}

/**
 * A check's verdict: `pass`, an optional `score` (by convention 0 to 1) and a `reason` for the report.
 *
 * @example
 * ```ts
 * const verdict: CheckResult = { pass: false, score: 0.2, reason: "title longer than 60 characters" };
 * ```
 */
export interface CheckResult {
  pass: boolean;
  score?: number;
  reason?: string;
}

/**
 * A named check, as {@link defineCheck} returns it.
 *
 * @example
 * ```ts
 * const checks: Check[] = [defineCheck("non-empty", ({ response }) => ({ pass: JSON.stringify(response).length > 2 }))];
 * ```
 */
export interface Check {
  name: string;
  run: (item: CheckItem) => CheckResult | Promise<CheckResult>;
}

/**
 * Defines a custom evaluation check.
 *
 * @example
 * ```ts
 * import { defineCheck } from "intersebd";
 *
 * export const shortTitle = defineCheck("short-title", ({ response }) => {
 *   const choices = response.choices as Array<{ message: { content: string | null } }>;
 *   const title = choices[0]?.message.content ?? "";
 *   return { pass: title.length <= 60, score: Math.max(0, 1 - title.length / 120), reason: `${title.length} chars` };
 * });
 * ```
 */
export function defineCheck(name: string, fn: Check["run"]): Check {
  return { name, run: fn };
}
