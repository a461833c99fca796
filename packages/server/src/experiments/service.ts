/**
 * The experiments' running part in one server: the live view the proxy routes by (reloaded periodically and at
 * once after a change through this instance's API) and the hand-over of shadow-experiment calls to the shadow
 * runner. Started once by server.ts, before the proxy; its `changed` goes to the API's routes (compose.ts).
 */
import type { CapturedCall } from "../calls/index.ts";
import type { AppContext } from "../context.ts";
import { LiveExperiments } from "./live.ts";
import type { Experiment } from "./schemas.ts";
import { ShadowRunner } from "./shadow.ts";

export interface ExperimentsService {
  live: LiveExperiments;
  /** Reloads the live view; resolves once it holds what the store held when called. Never rejects. */
  changed(): Promise<void>;
  /** Offers a call answered through an experiment in status shadow to the shadow runner; never throws. */
  offerShadow(call: CapturedCall, experiment: Experiment, secrets: { authorization?: string }): void;
  stop(): Promise<void>;
}

export async function startExperiments(ctx: AppContext): Promise<ExperimentsService> {
  const live = new LiveExperiments(ctx.store, {
    refreshMs: ctx.config.experimentsRefreshMs,
    upstreams: ctx.config.upstreams.keys(),
    log: ctx.log,
  });
  await live.start();
  const shadows = new ShadowRunner(ctx);
  return {
    live,
    changed: () => live.refresh(),
    // The secrets are held in memory only: never stored, never logged.
    offerShadow: (call, experiment, secrets) => shadows.offer(call, experiment, secrets),
    stop: async () => {
      live.stop();
      // Shadow calls in flight go through this server's proxy, which is still listening here.
      await shadows.stop();
    },
  };
}
