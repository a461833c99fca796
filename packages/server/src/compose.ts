/**
 * The one place that starts the domains' work and gathers their route tables, in the order they are matched
 * under `/api`. Mounting a table starts nothing; workers start here, and what callers need of them (the
 * evaluation worker, for the CLI and `runEvaluation`) is returned, not registered.
 */
import { z } from "zod";
import * as alerts from "./alerts/index.ts";
import * as calls from "./calls/index.ts";
import type { AppContext } from "./context.ts";
import * as conversations from "./conversations/index.ts";
import * as erasure from "./erasure/index.ts";
import * as evals from "./evals/index.ts";
import * as experiments from "./experiments/index.ts";
import * as exportsDomain from "./exports/index.ts";
import * as graph from "./graph/index.ts";
import type { RouteTable } from "./http/index.ts";
import * as keys from "./keys/index.ts";
import * as live from "./live/index.ts";
import * as notifications from "./notifications/index.ts";
import { notificationViewSchema } from "./notifications/responses.ts";
import * as ops from "./ops/index.ts";
import * as retention from "./retention/index.ts";
import { childLogger } from "./util/log.ts";
import * as views from "./views/index.ts";

export interface Composed {
  /** The domains' route tables, mounted under `/api` in this order. */
  tables: RouteTable[];
  /** The worker that runs evaluation items in this process. */
  evalWorker: evals.EvalWorker;
  /** The worker that runs live evaluators' jobs in this process. */
  liveWorker: live.LiveWorker;
  /** Stops the workers started here (before the store closes). */
  stop(): Promise<void>;
}

/** `GET /api/calls/{id}`: the call with everything the graph resolves to it, and its notifications. */
function callDetailReader(ctx: AppContext) {
  return {
    schema: graph.callDetailSchema.extend({ notifications: z.array(notificationViewSchema) }),
    read: async (id: string) => {
      const detail = await graph.callDetail(ctx, id);
      if (!detail) return undefined;
      const found = await notifications.notificationsOf(ctx.store, [
        detail.id,
        detail.completionId ?? detail.id,
      ]);
      return { ...detail, notifications: found };
    },
  };
}

/** Services started before the domains (server.ts), which some routes report to. */
export interface Started {
  /** Reloads the live experiments after a change through this instance's API (experiments/service.ts). */
  experimentsChanged?: () => Promise<void>;
  /** The live evaluators' rules whose insert hook the recorder runs (live/enqueue.ts). */
  liveRules?: live.LiveRules;
  /** The API keys requests are checked against, whose routes reload it after a change (keys/). */
  keys?: keys.KeyRing;
}

export function compose(ctx: AppContext, started: Started = {}): Composed {
  // Each worker's log lines name it (`component` in INTERSEBD_LOG_FORMAT=json).
  const as = (component: string): AppContext => ({ ...ctx, log: childLogger(ctx.log, { component }) });
  const notificationsService = notifications.start(as("notifications"));
  const evalsService = evals.start(as("evals"));
  const liveService = live.start(as("live"), started.liveRules);
  const conversationsService = conversations.start(as("conversations"));
  const alertsService = alerts.start(as("alerts"), notificationsService.deps.webhook);
  const retentionService = retention.start(ctx);
  return {
    tables: [
      calls.routes(ctx, callDetailReader(ctx)),
      graph.routes(ctx),
      notifications.routes(ctx, notificationsService),
      views.routes(ctx),
      exportsDomain.routes(ctx),
      evals.routes(ctx, evalsService),
      experiments.routes(ctx, started.experimentsChanged),
      live.routes(ctx, liveService),
      conversations.routes(ctx, () => conversationsService.runner.poke()),
      alerts.routes(ctx, alertsService),
      ops.routes(ctx, { evalWorker: evalsService.worker, liveWorker: liveService.worker }),
      erasure.routes(ctx),
      ...(started.keys ? [keys.routes(ctx, started.keys)] : []),
    ],
    evalWorker: evalsService.worker,
    liveWorker: liveService.worker,
    stop: async () => {
      await retentionService.stop();
      await conversationsService.stop();
      await alertsService.stop();
      await liveService.stop();
      await evalsService.stop();
      await notificationsService.stop();
    },
  };
}
