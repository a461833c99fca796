/**
 * The database's tables as Kysely sees them (camelCase here, snake_case in SQL through CamelCasePlugin).
 * JSON values are stored as text in both dialects so that one set of queries serves both.
 */
import type { Generated, Insertable, Selectable } from "kysely";
import type { AlertsTables } from "./schema-alerts.ts";
import type { ConversationsTables } from "./schema-conversations.ts";
import type { ErasureTables } from "./schema-erasure.ts";
import type { EvalsTables } from "./schema-evals.ts";
import type { ExperimentsTables } from "./schema-experiments.ts";
import type { ExportsTables } from "./schema-exports.ts";
import type { KeysTables } from "./schema-keys.ts";
import type { LiveTables } from "./schema-live.ts";
import type { NotificationsTables } from "./schema-notifications.ts";
import type { ReviewQueuesTables } from "./schema-review-queues.ts";

export interface CallsTable {
  id: string;
  completionId: string | null;
  startedAt: number;
  endedAt: number | null;
  durationMs: number | null;
  ttftMs: number | null;
  upstream: string;
  path: string;
  requestedModel: string | null;
  servedModel: string | null;
  stream: number;
  status: number | null;
  outcome: string;
  error: string | null;
  /** JSON: the request body as sent (after redaction). */
  request: string | null;
  /** JSON: the response body, or for a stream the equivalent `chat.completion` object. */
  response: string | null;
  promptTokens: number | null;
  completionTokens: number | null;
  cachedTokens: number | null;
  reasoningTokens: number | null;
  totalTokens: number | null;
  costUsd: number | null;
  sessionId: string | null;
  userId: string | null;
  /** JSON array of the custom tags. */
  tags: string;
  /** JSON object: header metadata merged with the request body's `metadata`. */
  metadata: string;
  capture: string;
  /** How the call reached us: `proxy`, `sdk` (wrapOpenAI) or `api` (POST /api/calls). */
  source: string;
  /**
   * What lists show, computed once at insert (`calls/preview.ts`) so that no list reads the bodies: the last
   * user message and the answer, each at most 200 characters and an ellipsis.
   */
  previewInput: string | null;
  previewOutput: string | null;
  /** Why the output fails the JSON its request asked for (the review queue's `schema` source), else null. */
  schemaFailure: string | null;
  /** The experiment the call was routed through (experiments/), its variant and the unit it was assigned by. */
  experiment: string | null;
  variant: string | null;
  /** `userId:<id>`, `sessionId:<id>` or `request:<call id>`; null when the request had no such unit. */
  assignmentUnit: string | null;
  /** For a shadow call, the id of the call whose request it answered a copy of. */
  shadowOf: string | null;
  /** When retention dropped the call's bodies and previews (retention/), else null. */
  bodiesExpiredAt: number | null;
  /** The hash of the configuration that captured the call (calls/provenance.ts); null before 0018. */
  configHash: string | null;
  /**
   * The protocol the call spoke: `chat` (Chat Completions, and every row before 0019), `responses` (OpenAI
   * Responses), `messages` (Anthropic Messages) or `otlp` (an ingested OpenTelemetry span). Whatever it is,
   * `request` / `response` hold the call in the chat shape (converted by `intersebd/chat`'s converters).
   */
  protocol: Generated<CallProtocol>;
  /** JSON: the request body as received (capture mode applied), for a call that is not chat; null for chat. */
  originalRequest: string | null;
  /** JSON: the response as received (a stream's final object), for a call that is not chat; null for chat. */
  originalResponse: string | null;
  /** Why the originals could not be converted to the chat shape (then `request` / `response` are null). */
  conversionError: string | null;
}

/** The protocols a call may speak (`calls.protocol`). */
export type CallProtocol = "chat" | "responses" | "messages" | "otlp";

/** The tags a call was given by its caller (headers, SDK, API); its id and completion id are not repeated here. */
export interface CallTagsTable {
  tag: string;
  callId: string;
}

export interface LinksTable {
  upstreamTag: string;
  downstreamTag: string;
  metadata: string | null;
  createdAt: number;
}

export interface AnnotationsTable {
  id: string;
  key: string;
  name: string;
  numericReward: number | null;
  content: string | null;
  data: string | null;
  comment: string | null;
  correction: string | null;
  source: string;
  annotatorId: string | null;
  notificationId: string | null;
  createdAt: number;
}

/** Materialized resolution: which annotations apply to which calls. */
export interface CallAnnotationsTable {
  callId: string;
  annotationId: string;
}

export interface NotificationsTable {
  id: string;
  completionId: string;
  recipient: string;
  message: string | null;
  rubric: string | null;
  status: string;
  metadata: string | null;
  createdAt: number;
  expiresAt: number;
  doneAt: number | null;
  revokedAt: number | null;
}

export interface ComparisonsTable {
  id: string;
  a: string;
  b: string;
  choice: string;
  reason: string | null;
  annotatorId: string | null;
  source: string;
  createdAt: number;
  /** The named criterion the choice was made on (conversation evaluations); null: the whole answer. */
  criterion: string | null;
}

export interface Database
  extends ConversationsTables,
    AlertsTables,
    NotificationsTables,
    ExportsTables,
    EvalsTables,
    ExperimentsTables,
    LiveTables,
    ReviewQueuesTables,
    KeysTables,
    ErasureTables {
  calls: CallsTable;
  callTags: CallTagsTable;
  /** A view, read only: every tag a call answers to (its id, its completion id, and its `call_tags`). */
  callKeys: CallTagsTable;
  links: LinksTable;
  annotations: AnnotationsTable;
  callAnnotations: CallAnnotationsTable;
  notifications: NotificationsTable;
  comparisons: ComparisonsTable;
}

export type CallRow = Selectable<CallsTable>;
/** A call as lists read it: every column but the bodies. */
export type CallListRow = Omit<CallRow, "request" | "response" | "originalRequest" | "originalResponse">;
export type NewCallRow = Insertable<CallsTable>;
export type LinkRow = Selectable<LinksTable>;
export type AnnotationRow = Selectable<AnnotationsTable>;
export type NotificationRow = Selectable<NotificationsTable>;
export type ComparisonRow = Selectable<ComparisonsTable>;
