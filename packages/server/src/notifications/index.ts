/**
 * The notifications domain: notifications and their signed links, answers through those links, rubrics,
 * webhook delivery; and the read-side helpers of the web app's review queue, sessions and settings pages.
 * See README.md for the guarantees (tokens, idempotent answers, at-least-once delivery).
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
export { type ReviewItem, reviewQueue, schemaFailure } from "./review.ts";
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
export { getSession, listSessions, type SessionSummary } from "./sessions.ts";
export { type SettingsView, settingsView } from "./settings.ts";
export { signToken, verifyToken } from "./tokens.ts";
export { sign as signWebhook } from "./webhooks.ts";

export interface NotificationsDomain {
  deps: NotificationsDeps;
  /** Settles once the rubrics file is in the store (a failure is logged, not thrown). */
  ready: Promise<void>;
}

/**
 * Sets the domain up for one server: loads the rubrics file (a bad file stops the start with a ConfigError),
 * and when a webhook is configured starts the delivery worker, stopped on shutdown.
 * @example const { deps } = createNotifications(ctx); await notify(deps, [{ completionId, sendNotificationTo: "ana" }], false);
 */
export function createNotifications(ctx: AppContext): NotificationsDomain {
  const { store, config, log } = ctx;
  const fileRubrics = config.rubricsFile ? readRubricsFile(config.rubricsFile) : [];
  const ready = syncFileRubrics(store, fileRubrics).catch((err: unknown) =>
    log.error(`loading ${config.rubricsFile} into the store: ${String(err)}`),
  );
  let webhook: NotificationsDeps["webhook"];
  if (config.webhook) {
    const worker = startWebhookWorker(store, config.webhook, log);
    ctx.onClose(() => worker.stop());
    webhook = worker;
  }
  return {
    deps: {
      store,
      key: () => tokenSecret(store, config.tokenSecret),
      baseUrl: () => ctx.baseUrl(),
      tokenTtlSeconds: config.tokenTtlSeconds,
      webhook,
    },
    ready,
  };
}
