/**
 * The evals domain's work for one server: the checks file's checks, and the worker that runs evaluation items
 * (claimed from the store, so several instances share them) until the server closes. Called by the
 * composition (`compose.ts`) only: mounting the routes starts nothing. The worker is returned, and reaches the
 * CLI and `runEvaluation` as `startServer`'s `evalWorker`.
 */
import type { AppContext } from "../context.ts";
import { type CheckDef, loadChecksFile } from "./checks.ts";
import type { EvalsService } from "./routes.ts";
import { EvalWorker } from "./worker.ts";

export function start(ctx: AppContext): EvalsService & { stop(): Promise<void> } {
  const declared: ReadonlyMap<string, CheckDef> = ctx.config.checksFile
    ? loadChecksFile(ctx.config.checksFile)
    : new Map();
  const worker = new EvalWorker(ctx);
  worker.start();
  return { declared, worker, stop: () => worker.stop() };
}
