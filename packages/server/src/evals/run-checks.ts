/**
 * One place where an item's checks run, whatever their kind: built-in checks (`runBuiltinCheck`), checks written
 * in code (custom) and LLM judges, in the order the run declares them. What a judge needs to reach its model is
 * given as `judge`, so this runs without a server in a test.
 */
import {
  type CheckDef,
  type CheckOutcome,
  type CheckSubject,
  type CustomCheck,
  type CustomCheckItem,
  type JudgeDef,
  runBuiltinCheck,
} from "./checks.ts";
import { PermanentError } from "./errors.ts";
import type { FloorRunner } from "./floor.ts";
import type { JudgeOutcome, JudgeResult } from "./judge.ts";

/** What the checks of one item look at: the built-in checks' view, and the custom checks' (`CustomCheckItem`). */
export interface ItemSubject extends CheckSubject {
  custom: CustomCheckItem;
}

/** Runs one judge on the item (`runJudge` with the item's subject and proxy client). */
export type Judge = (def: JudgeDef) => Promise<JudgeResult>;

export interface ChecksResult {
  /** Every check's verdict in declaration order, absolute judges included; pairwise judges have none. */
  checks: CheckOutcome[];
  judges: JudgeOutcome[];
}

/**
 * Runs `defs` on one item. `custom` holds the functions of the run's custom checks (given in code to this
 * process); `floor` runs the floor checks (`moderation`, `floor`: `floorRunner(floorThroughProxy(...))`), which
 * without it are recorded as not run here. A check that throws or cannot apply is recorded as `pass: null` with why.
 * @throws PermanentError when a custom check's function is not in `custom` (no attempt can run it here);
 *   whatever `judge` throws (a judge call that failed after its retries, worth another attempt).
 */
export async function runChecks(
  defs: ReadonlyArray<CheckDef>,
  subject: ItemSubject,
  judge: Judge,
  custom: ReadonlyMap<string, CustomCheck> = new Map(),
  floor?: FloorRunner,
): Promise<ChecksResult> {
  const checks: CheckOutcome[] = [];
  const judges: JudgeOutcome[] = [];
  for (const def of defs) {
    if (def.type === "judge") {
      const r = await judge(def);
      judges.push(r.judge);
      if (r.check) checks.push(r.check);
    } else if (def.type === "custom") {
      const fn = custom.get(def.name);
      if (!fn) throw new PermanentError(`custom check "${def.name}" is not available in this process`);
      checks.push(await runCustomCheck(def.name, fn, subject.custom));
    } else if (def.type === "moderation" || def.type === "floor") {
      checks.push(
        floor
          ? await floor(def, subject)
          : { name: def.name, type: def.type, pass: null, reason: "floor checks have no client here" },
      );
    } else checks.push(runBuiltinCheck(def, subject));
  }
  return { checks, judges };
}

/** Runs a check written in code; what it throws is its verdict's error, not the item's. */
export async function runCustomCheck(
  name: string,
  fn: CustomCheck,
  item: CustomCheckItem,
): Promise<CheckOutcome> {
  try {
    const r = await fn.run(item);
    return {
      name,
      type: "custom",
      pass: Boolean(r.pass),
      ...(typeof r.score === "number" ? { score: r.score } : {}),
      ...(r.reason ? { reason: String(r.reason) } : {}),
    };
  } catch (err) {
    return { name, type: "custom", pass: null, error: `threw: ${(err as Error).message}` };
  }
}
