/**
 * The worker a server started, found by its store: how `runEvaluation` (code given a server's context) reaches
 * it. TODO(issue 15 step 2): let runEvaluation take the worker `startServer` returns and drop this registry; the
 * CLI already does.
 */
import type { Store } from "../store/index.ts";
import type { EvalWorker } from "./worker.ts";

const workers = new WeakMap<Store, EvalWorker>();

/** Makes `worker` the one that runs evaluations from code against this store in this process. */
export function registerWorker(store: Store, worker: EvalWorker): void {
  workers.set(store, worker);
}

/** The worker this process runs against `store`, if a server started one. */
export function workerOf(store: Store): EvalWorker | undefined {
  return workers.get(store);
}
