/**
 * The live evaluators domain: rules that run checks and judges on new calls as they arrive, in the background,
 * and on a backfilled time range. README.md beside this file has the how and why.
 *
 * The door: the composition wires `LiveRules`'s insert hook into the recorder (server.ts), mounts `routes` and
 * calls `start` (compose.ts).
 */
import type { AppContext } from "../context.ts";
import { LiveRules } from "./enqueue.ts";
import type { LiveService } from "./routes.ts";
import { LiveWorker, type LiveWorkerOptions } from "./worker.ts";

export { backfill, LiveRules, matches, sampled } from "./enqueue.ts";
export { type LiveService, liveRoutes as routes } from "./routes.ts";
export type { EvaluatorView } from "./schemas.ts";
export { LiveWorker, type LiveWorkerOptions } from "./worker.ts";

/**
 * Starts this instance's worker and the rules' refresh. `rules` are the ones whose hook the recorder runs
 * (created before it, in server.ts); without them, new calls are not enqueued here (backfill still is).
 */
export function start(
  ctx: AppContext,
  rules: LiveRules = new LiveRules(ctx.store, ctx.log),
  opts: LiveWorkerOptions = {},
): LiveService & { worker: LiveWorker; stop(): Promise<void> } {
  rules.startRefreshing();
  const worker = new LiveWorker(ctx, opts);
  worker.start();
  return {
    worker,
    changed: async () => {
      await rules.refresh();
      worker.poke();
    },
    poke: () => worker.poke(),
    stop: async () => {
      rules.stop();
      await worker.stop();
    },
  };
}
