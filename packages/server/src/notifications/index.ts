/**
 * The notifications domain: notifications and their signed links, answers through those links, rubrics,
 * webhook delivery. See README.md for the guarantees (tokens, idempotent answers, at-least-once delivery).
 * Its door: `start` (loads the rubrics file, starts the webhook worker) and `routes`, plus its use-cases.
 */

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
export {
  type CreateReviewQueueInput,
  createReviewQueue,
  disagreeingCalls,
  getReviewQueue,
  listReviewQueues,
  type ReviewQueueSummary,
  type ReviewQueueView,
} from "./queues.ts";
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
export { type NotificationsService, start } from "./start.ts";
export { signToken, verifyToken } from "./tokens.ts";
export { sign as signWebhook, startWebhookWorker, type WebhookWorker } from "./webhooks.ts";
