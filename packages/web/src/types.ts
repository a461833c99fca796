/** The REST API's shapes, as the web app reads them (camelCase JSON; see PRODUCT.md "Concepts"). */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface Usage {
  promptTokens: number | null;
  completionTokens: number | null;
  cachedTokens: number | null;
  reasoningTokens: number | null;
  totalTokens: number | null;
}

export interface CallView {
  id: string;
  completionId: string | null;
  startedAt: string;
  endedAt: string | null;
  durationMs: number | null;
  ttftMs: number | null;
  upstream: string;
  path: string;
  requestedModel: string | null;
  servedModel: string | null;
  stream: boolean;
  status: number | null;
  outcome: string;
  error: string | null;
  usage: Usage;
  costUsd: number | null;
  sessionId: string | null;
  userId: string | null;
  tags: string[];
  metadata: Record<string, unknown>;
  capture: string;
  source: string;
  request?: ChatRequest | null;
  response?: ChatResponse | null;
  preview?: { input: string | null; output: string | null };
  annotationCount?: number;
  meanReward?: number | null;
}

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

export interface ResolvedAnnotation {
  id: string;
  annotationKey: string;
  name: string;
  numericReward: number | null;
  content: unknown;
  data: unknown;
  comment: string | null;
  correction: unknown;
  source: string;
  annotatorId: string | null;
  notificationId: string | null;
  createdAt: string;
  path: string[];
  depth: number;
}

export interface LinkView {
  upstreamTag: string;
  downstreamTag: string;
  metadata: Record<string, unknown> | null;
  createdAt: string;
  depth?: number;
}

export interface ComparisonView {
  id: string;
  a: string;
  b: string;
  choice: "a" | "b" | "tie" | string;
  reason: string | null;
  annotatorId: string | null;
  source: string;
  createdAt: string;
}

export type NotificationStatus = "open" | "done" | "revoked" | "expired";

export interface NotificationView {
  id: string;
  completionId: string;
  recipient: string;
  message: string | null;
  rubric: string | null;
  status: NotificationStatus;
  createdAt: string;
  expiresAt: string | null;
  doneAt: string | null;
  revokedAt: string | null;
  metadata: Record<string, unknown> | null;
  delivery: null | { status: string; attempts: number; lastError: string | null; deliveredAt: string | null };
  /** The annotation page's link, where the server includes it (creation always does). */
  url?: string;
  token?: string;
  /** Where the server includes it: the call's preview, for the inbox. */
  call?: CallView | null;
  preview?: { input: string | null; output: string | null };
}

export interface CallDetail extends CallView {
  annotations: ResolvedAnnotation[];
  links: LinkView[];
  comparisons: ComparisonView[];
  notifications?: NotificationView[];
}

export type RubricFieldType = "scale" | "boolean" | "choice" | "text" | "correction";

export interface RubricField {
  name: string;
  type: RubricFieldType;
  label?: string;
  description?: string;
  min?: number;
  max?: number;
  labels?: Record<string, string> | string[];
  options?: string[];
  required?: boolean;
}

export interface Rubric {
  name: string;
  description?: string;
  fields: RubricField[];
  [key: string]: unknown;
}

export interface AnnotateTask {
  notification: NotificationView;
  call: CallDetail | null;
  rubric: Rubric;
  siblings: { next: string | null; previous: string | null };
}

export interface SessionSummary {
  sessionId: string;
  calls: number;
  firstAt: string;
  lastAt: string;
  models: string[];
  userIds: string[];
}

export interface ReviewItem {
  call: CallView;
  reasons: string[];
}

export interface Settings {
  version: string;
  upstreams: Array<{ name: string; baseUrl: string; hasKey: boolean }>;
  capture: string;
  webhook: { configured: boolean; url?: string; signing?: boolean | string };
  publicUrl: string | null;
  auth: boolean | string | { enabled?: boolean; [key: string]: unknown };
  tokenTtlSeconds: number;
  [key: string]: unknown;
}
