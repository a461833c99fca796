/**
 * Test helpers for evaluations (evals/): a check's subject, and waiting for a run through the API as the app's
 * page does.
 */
import type { CheckSubject } from "../evals/checks.ts";
import { eventually, type TestServer } from "./harness.ts";

/**
 * `GET /api/evals/{id}` once its run is done (polling), or a failure naming `what` after `timeoutMs`.
 * @example
 * const state = await evalWhenDone<Body>(s, id);
 * assert.deepEqual(state.progress, { total: 5, done: 5, failed: 0, pending: 0, running: 0 });
 */
export function evalWhenDone<T extends object>(
  s: TestServer,
  id: string,
  timeoutMs = 20_000,
  what = "the run to finish",
): Promise<T> {
  return eventually(
    async () => {
      const r = await s.api<T & { run?: { status: string } | null }>(`/api/evals/${id}`);
      return r.body.run?.status === "done" ? r.body : undefined;
    },
    timeoutMs,
    what,
  );
}

/**
 * What a check sees of an item, with every field filled (an answer of null, no baseline, 1 ms, no cost or
 * tokens): tests override what they look at, so that a field added to `CheckSubject` is filled here once.
 */
export function checkSubject(overrides: Partial<CheckSubject> = {}): CheckSubject {
  return {
    request: { model: "m", messages: [] },
    answer: null,
    reference: null,
    baselineAnswer: null,
    costUsd: null,
    latencyMs: 1,
    tokens: { prompt: null, completion: null, total: null },
    ...overrides,
  };
}
