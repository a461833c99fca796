/**
 * The notifications domain's work for one server: the rubrics file loaded into the store, and the webhook
 * delivery worker when a webhook is configured.
 */
import type { AppContext } from "../context.ts";
import type { NotificationsDeps } from "./inbox.ts";
import { readRubricsFile, syncFileRubrics } from "./rubrics.ts";
import { tokenSecret } from "./tokens.ts";
import { startWebhookWorker } from "./webhooks.ts";

/** What `start` set up for one server, which its routes use. */
export interface NotificationsService {
  deps: NotificationsDeps;
  /** Settles once the rubrics file is in the store (a failure is logged, not thrown). */
  ready: Promise<void>;
  /** Stops the webhook worker, if one runs. */
  stop(): Promise<void>;
}

/**
 * Sets the domain up for one server: loads the rubrics file (a bad file stops the start with a ConfigError),
 * and when a webhook is configured starts the delivery worker. Called by the composition (`server.ts`) only:
 * mounting the routes starts nothing.
 * @example const notifications = start(ctx); await notify(notifications.deps, [{ completionId, sendNotificationTo: "ana" }], false);
 */
export function start(ctx: AppContext): NotificationsService {
  const { store, config, log } = ctx;
  const fileRubrics = config.rubricsFile ? readRubricsFile(config.rubricsFile) : [];
  const ready = syncFileRubrics(store, fileRubrics).catch((err: unknown) =>
    log.error(`loading ${config.rubricsFile} into the store: ${String(err)}`),
  );
  const webhook = config.webhook ? startWebhookWorker(store, config.webhook, log) : undefined;
  return {
    deps: {
      store,
      key: () => tokenSecret(store, config.tokenSecret),
      baseUrl: () => ctx.baseUrl(),
      tokenTtlSeconds: config.tokenTtlSeconds,
      webhook,
    },
    ready,
    stop: async () => {
      await webhook?.stop();
    },
  };
}
