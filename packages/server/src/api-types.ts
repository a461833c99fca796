/**
 * The REST API's response shapes, as the route tables declare them (`z.infer` of a route's response schema),
 * one declaration per shape, for the clients in this repository (the web app imports them with `import type`,
 * which every build erases, so no server code reaches the browser). Types only: this module must never export a
 * value, and its imports must stay `import type`, so that importing it costs nothing at runtime.
 */
import type { z } from "zod";
import type { callsPageSchema } from "./calls/responses.ts";
import type { groupReportSchema, runStateSchema, timeseriesResponseSchema } from "./evals/responses.ts";
import type { TimeseriesQuery } from "./evals/schemas.ts";
import type { CallDetail } from "./graph/index.ts";
import type { NotificationView } from "./notifications/index.ts";
import type { inboxPageSchema } from "./notifications/responses.ts";
import type { sessionDetailSchema } from "./views/responses.ts";

// Calls and the tag graph
export type { CallView } from "./calls/index.ts";
export type {
  AnnotationView,
  CallDetail,
  ComparisonView,
  LinkView,
  ResolvedAnnotation,
} from "./graph/index.ts";

/** `GET /api/calls`: a page of calls, each with its preview and its annotations' count and mean reward. */
export type CallsPage = z.infer<typeof callsPageSchema>;

/** `GET /api/calls/{id}`: the call with everything that resolves to it, plus its notifications (`api/calls.ts`). */
export type CallDetailResponse = CallDetail & { notifications: NotificationView[] };

export type { NotificationWithUrl } from "./notifications/inbox.ts";
// Notifications, annotation, rubrics
export type {
  AnnotateTask,
  DeliveryView,
  NotificationStatus,
  NotificationView,
  RubricDefinition,
  RubricField,
  RubricView,
} from "./notifications/index.ts";
export type { ReviewQueueSummary, ReviewQueueView } from "./notifications/queues.ts";
export type { RubricFieldType } from "./notifications/rubrics.ts";
// The web app's views: review queue, sessions, settings
export type {
  ClusterKey,
  ReviewCluster,
  ReviewItem,
  ReviewKind,
  SessionSummary,
  SettingsView,
} from "./views/index.ts";

/** `GET /api/notifications`: an inbox page, each item with its link and the call's preview, and the counts. */
export type InboxPage = z.infer<typeof inboxPageSchema>;
export type InboxItem = InboxPage["data"][number];

/**
 * `GET /api/sessions/{id}`: the session's calls, oldest first, with their bodies up to a budget; the calls
 * beyond it (`bodiesOmitted`) come with their preview only.
 */
export type SessionDetail = z.infer<typeof sessionDetailSchema>;

// Evaluations and metrics
export type {
  Bucket,
  Candidate,
  CheckDef,
  Estimate,
  JudgeDef,
  Progress,
  RunStatus,
  RunView,
} from "./evals/index.ts";
export type {
  AgreementReport,
  CheckReport,
  JudgeReport,
  MeanReport,
  Rate,
  Report,
  WorstItem,
} from "./evals/report.ts";
export type { Interval, Summary } from "./evals/stats.ts";
// Datasets and exports
export type {
  DatasetDetail,
  DatasetView,
  DropReason,
  ExportReport,
  Format,
  SnapshotView,
} from "./exports/index.ts";

/** `GET /api/evals/{id}`: the run, its progress and its (partial while running) report. */
export type RunState = z.infer<typeof runStateSchema>;
/** `GET /api/evals/groups/{id}`: several candidates against the baseline and each other, ranked, with the best. */
export type EvalGroupReport = z.infer<typeof groupReportSchema>;

/** `GET /api/metrics/timeseries`: buckets, oldest first. */
export type Timeseries = z.infer<typeof timeseriesResponseSchema>;
export type MetricName = TimeseriesQuery["metric"];

// Experiments (the report's route may be missing on an older server: the app then says "no report yet")
export type {
  Experiment,
  ExperimentChange,
  ExperimentStatus,
  Match as ExperimentMatch,
  ShadowSettings,
  Variant as ExperimentVariant,
} from "./experiments/schemas.ts";
/** `GET /api/experiments/{name}`: the definition and every change to it, oldest first. */
export type ExperimentDetail = z.infer<typeof import("./experiments/schemas.ts").experimentDetailSchema>;
/** `GET /api/experiments`. */
export type ExperimentList = z.infer<typeof import("./experiments/schemas.ts").experimentListSchema>;
/** `GET /api/experiments/{name}/report`: per variant volume, rewards, checks, pairwise, differences, verdict. */
export type ExperimentReport = z.infer<typeof import("./experiments/responses.ts").experimentReportSchema>;
export type ExperimentVariantReport = ExperimentReport["variants"][number];
export type ExperimentDifference = ExperimentReport["variants"][number]["vsControl"][number];
export type ExperimentInterval = z.infer<typeof import("./experiments/responses.ts").intervalSchema>;

// Live evaluators
/** `GET /api/evaluators/{id}`: a live evaluator and its jobs' counters (queued, done, failed, skipped by cap, cost today). */
export type Evaluator = z.infer<typeof import("./live/schemas.ts").evaluatorSchema>;
export type EvaluatorCounters = Evaluator["counters"];
/** `GET /api/evaluators`: every live evaluator, oldest first, with its counters. */
export type EvaluatorList = z.infer<typeof import("./live/schemas.ts").evaluatorListSchema>;

// Floor checks
/** `GET /api/floor`: calls a floor check flagged, each with its flags, their excerpts, the checker and a preview. */
export type FloorPage = z.infer<typeof import("./views/floor.ts").floorPageSchema>;
export type FloorItem = FloorPage["data"][number];

// Alerts
/** `GET /api/alerts`: the number open, and the episodes, open first, then resolved. */
export type AlertList = z.infer<typeof import("./alerts/schemas.ts").alertListSchema>;
export type AlertView = AlertList["alerts"][number];
/** `GET /api/alerts/rules`. */
export type AlertRuleList = z.infer<typeof import("./alerts/schemas.ts").alertRuleListSchema>;

// Judge calibration
/** `GET /api/judges`: each judge with its agreement with people. */
export type JudgeSummary = z.infer<typeof import("./views/judges.ts").judgeSummarySchema>;
/** `GET /api/judges/{name}/calibration`: the judge's summaries and a page of its disagreements with people. */
export type JudgeCalibrationPage = z.infer<typeof import("./views/judges.ts").calibrationPageSchema>;
export type JudgeDisagreement = JudgeCalibrationPage["data"][number];

// Conversation evaluations (the routes check only the outline of their answers, so these follow book.ts's)
type ConversationsBook = typeof import("./conversations/book.ts");
/** `POST /api/conversations/evals`: the evaluation's id, its items, sessions and slices. */
export type ConversationEvalCreated = Awaited<ReturnType<ConversationsBook["createConversationEval"]>>;
/** `GET /api/conversations/evals`: the evaluations, newest first. */
export type ConversationEvalList = Awaited<ReturnType<ConversationsBook["listConversationEvals"]>>;
/** `GET /api/conversations/evals/{id}`: progress, win/tie/loss per criterion and context length, ranking, caveat. */
export type ConversationEvalReport = Awaited<ReturnType<ConversationsBook["conversationEvalReport"]>>;
export type ConversationEvalResult = ConversationEvalReport["results"][number];
/** `GET /api/conversations/evals/{id}/items`. */
export type ConversationEvalItems = Awaited<ReturnType<ConversationsBook["listItems"]>>;
export type ConversationEvalItem = ConversationEvalItems["data"][number];

// Operations: status, provenance, erasure
/** `GET /api/status`: the runtime's shape (version, store, capture, upstream names, config hash, queue, jobs). */
export type StatusView = z.infer<typeof import("./ops/status.ts").statusSchema>;
/** `GET /api/status/config-changes`: each configuration hash the stored calls carry, oldest first. */
export type ConfigChanges = z.infer<typeof import("./ops/status.ts").configChangesSchema>;
export type ConfigChange = ConfigChanges["data"][number];
/** `DELETE /api/users/{id}`, `/api/sessions/{id}`, `/api/tags/{tag}` (with `?dryRun=true` or not): the counts. */
export type ErasureResult = z.infer<typeof import("./erasure/schemas.ts").erasureResultSchema>;
export type ErasureCounts = ErasureResult["counts"];
/** `GET /api/audit`: the audit log, newest first (who, when, the selector's kind and hash, counts). */
export type AuditPage = z.infer<typeof import("./erasure/schemas.ts").auditListSchema>;
export type AuditEntry = AuditPage["entries"][number];
