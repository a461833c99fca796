/**
 * The notifications domain: notifications and their signed links, answers through those links, rubrics,
 * webhook delivery. See README.md for the guarantees (tokens, idempotent answers, at-least-once delivery).
 * Its door: `start` (loads the rubrics file, starts the webhook worker) and `routes`, plus its use-cases.
 */
import type { AppContext } from "../context.ts";
import type { NotificationsDeps } from "./inbox.ts";
import { readRubricsFile, syncFileRubrics } from "./rubrics.ts";
import { tokenSecret } from "./tokens.ts";
import { startWebhookWorker } from "./webhooks.ts";

export {
  ANNOTATOR_REFUSED,
  type AnnotateConversation,
  type AnnotateItem,
  type AnnotateTask,
  type AnswerResult,
  answersSchema,
  answerTask,
  openTask,
} from "./annotate.ts";
export {
  type DeliveryView,
  getNotification,
  type ListQuery,
  listNotifications,
  listStatuses,
  type NotificationStatus,
  type NotificationsDeps,
  type NotificationView,
  notificationsOf,
  notify,
  revokeNotification,
} from "./inbox.ts";
export { notificationsRoutes as routes } from "./routes.ts";
export {
  DEFAULT_RUBRIC,
  getRubric,
  listRubrics,
  putRubric,
  type RubricDefinition,
  type RubricField,
  type RubricView,
  rubricSchema,
} from "./rubrics.ts";
export { type NotificationInput, notificationSchema } from "./schemas.ts";
export { signToken, verifyToken } from "./tokens.ts";
export { sign as signWebhook } from "./webhooks.ts";

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
