/**
 * The REST API's shapes, as the web app reads them (camelCase JSON; see PRODUCT.md "Concepts").
 * The server declares each shape once (`@intersebd/server/api-types`); these are type-only imports, which the
 * build erases, so no server code enters the bundle. Declared here: only how the app reads the request and
 * response bodies the server stores as they came (Chat Completions JSON), and the app's own helpers.
 */
import type * as Api from "@intersebd/server/api-types";

export type {
  AlertList,
  AlertRuleList,
  AlertView,
  AuditEntry,
  AuditPage,
  CheckDef,
  CheckReport,
  ComparisonView,
  ConfigChange,
  ConfigChanges,
  ConversationEvalItem,
  ConversationEvalReport,
  ConversationEvalResult,
  DatasetDetail,
  DatasetView,
  ErasureCounts,
  ErasureResult,
  Estimate,
  Evaluator,
  EvaluatorCounters,
  EvaluatorList,
  FloorItem,
  FloorPage,
  Interval,
  JudgeReport,
  LinkView,
  MeanReport,
  MetricName,
  NotificationStatus,
  Progress,
  Rate,
  ResolvedAnnotation,
  ReviewCluster,
  ReviewItem,
  RubricField,
  RubricFieldType,
  RunStatus,
  RunView,
  SessionSummary,
  SnapshotView,
  StatusView,
  Summary,
  WorstItem,
} from "@intersebd/server/api-types";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

export interface ContentPart {
  type: string;
  text?: string;
  image_url?: { url: string; detail?: string };
  input_audio?: unknown;
  refusal?: string;
  [key: string]: unknown;
}

export interface ToolCall {
  id?: string;
  type?: string;
  function?: { name?: string; arguments?: string };
  [key: string]: unknown;
}

export interface ChatMessage {
  role: string;
  content?: string | ContentPart[] | null;
  name?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
  refusal?: string | null;
  function_call?: { name?: string; arguments?: string };
  [key: string]: unknown;
}

export interface ChatRequest {
  model?: string;
  messages?: ChatMessage[];
  tools?: Array<{ type?: string; function?: { name?: string; description?: string; parameters?: unknown } }>;
  [key: string]: unknown;
}

export interface ChatResponse {
  id?: string;
  model?: string;
  choices?: Array<{ index?: number; message?: ChatMessage; finish_reason?: string | null }>;
  usage?: Record<string, unknown>;
  error?: { message?: string; type?: string; code?: string };
  [key: string]: unknown;
}

/** A call view whose stored bodies (opaque objects to the server) are read as Chat Completions JSON. */
type WithChatBodies<T extends { request?: unknown; response?: unknown }> = Omit<T, "request" | "response"> & {
  request?: ChatRequest | null;
  response?: ChatResponse | null;
};

export type CallView = WithChatBodies<Api.CallView>;
export type Usage = CallView["usage"];

/** `GET /api/calls/{id}`. */
export type CallDetail = WithChatBodies<Api.CallDetailResponse>;

/** `GET /api/notifications`. */
export type Inbox = Api.InboxPage;

/** A notification in any answer: creation, revoke and the inbox add its `url`; the inbox, the call's `preview`. */
export type NotificationView = Api.NotificationView & Partial<Pick<Api.InboxItem, "url" | "preview">>;

export type Rubric = Api.RubricView;
/** A rubric as written (the body of `PUT /api/rubrics/{name}`). */
export type RubricDefinition = Api.RubricDefinition;

/** `GET /api/a/{token}`: one item's conversation, rubric and state, and nothing else. */
export type AnnotateTask = Omit<Api.AnnotateTask, "conversation"> & {
  conversation: {
    messages: ChatMessage[] | null;
    choices: NonNullable<ChatResponse["choices"]> | null;
  } | null;
};

export type Settings = Api.SettingsView;

export type ExportFormat = Api.Format;
/** The export formats, in the order the dataset page offers them. */
export const EXPORT_FORMATS = [
  "openai-sft",
  "openai-dpo",
  "trl-sft",
  "trl-dpo",
  "trl-kto",
  "rewards",
] as const satisfies readonly ExportFormat[];

export type ExportReport = Api.ExportReport;

export type EvalReport = Api.Report;
export type RunState = Api.RunState;
export type MetricBucket = Api.Bucket;

export type {
  Experiment,
  ExperimentChange,
  ExperimentDetail,
  ExperimentDifference,
  ExperimentInterval,
  ExperimentList,
  ExperimentReport,
  ExperimentStatus,
  ExperimentVariant,
  ExperimentVariantReport,
} from "@intersebd/server/api-types";
