/** Test helpers for live evaluators (live/): creating one and waiting for its jobs, through the API. */
import type { EvaluatorView } from "../live/schemas.ts";
import { eventually, postCreated, type TestServer } from "./harness.ts";

/** `POST /api/evaluators`, asserting the 201. */
export function createEvaluator(s: TestServer, body: Record<string, unknown>): Promise<EvaluatorView> {
  return postCreated<EvaluatorView>(s, "/api/evaluators", body);
}

/**
 * Waits until no job of the evaluator is queued or running and at least `expectAtLeast` have finished (done,
 * failed or skipped by the cost cap), and answers its counters.
 */
export function evaluatorSettled(
  s: TestServer,
  id: string,
  expectAtLeast: number,
  timeoutMs = 20_000,
): Promise<EvaluatorView["counters"]> {
  return eventually(
    async () => {
      const r = await s.api<EvaluatorView>(`/api/evaluators/${id}`);
      const c = r.body.counters;
      const finished = c.done + c.failed + c.skippedByCap;
      return c.queued === 0 && c.running === 0 && finished >= expectAtLeast && c;
    },
    timeoutMs,
    "the evaluator's jobs to finish",
  );
}
