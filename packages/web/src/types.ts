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

/** A saved, named filter over calls (`GET /api/datasets`); the filter in its query-string form. */
export interface DatasetView {
  id: string;
  name: string;
  description: string | null;
  filter: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

/** `GET /api/datasets/:name`: the dataset with its size and how much of it is judged. */
export interface DatasetDetail extends DatasetView {
  size: number;
  /** Per-call mean reward in equal-width buckets (`bucket` is the lower edge). */
  rewardHistogram: Array<{ bucket: number; count: number }>;
  annotated: number;
  corrections: number;
  pairwise: number;
}

/** The exact calls behind one export or evaluation of a dataset. */
export interface SnapshotView {
  id: string;
  datasetId: string;
  datasetName: string;
  purpose: string;
  format: string | null;
  params: Record<string, unknown> | null;
  callCount: number | null;
  rowCount: number | null;
  complete: boolean;
  createdAt: string;
  completedAt: string | null;
}

export const EXPORT_FORMATS = [
  "openai-sft",
  "openai-dpo",
  "trl-sft",
  "trl-dpo",
  "trl-kto",
  "rewards",
] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** `GET /api/export?report=1`: rows written and dropped (by reason), without the rows. */
export interface ExportReport {
  format: ExportFormat;
  split: number;
  groupBy: string;
  scanned: { calls: number; comparisons: number };
  written: { train: number; validation: number; total: number };
  bySource: Partial<Record<"call" | "correction" | "pairwise" | "same_input", number>>;
  dropped: Record<string, number>;
  droppedTotal: number;
}

/** A check as a run stores it (`GET /api/evals/checks`, `run.checks`). */
export interface CheckDef {
  type: "json-schema" | "regex" | "equals" | "contains" | "bound" | "judge" | "custom";
  name: string;
  mode?: "absolute" | "pairwise";
  model?: string;
  upstream?: string;
  pattern?: string;
  metric?: string;
  op?: string;
  value?: number;
  scale?: [number, number];
  [key: string]: unknown;
}

export interface Candidate {
  model?: string;
  upstream?: string;
  systemPrompt?: string;
  params?: Record<string, unknown>;
  headers?: Record<string, string>;
}

export type RunStatus = "queued" | "running" | "done" | "failed" | "cancelled";

export interface RunView {
  id: string;
  dataset: string | null;
  snapshotId: string | null;
  candidate: Candidate;
  checks: CheckDef[];
  seed: number;
  concurrency: number;
  needsCode: boolean;
  status: RunStatus;
  total: number;
  done: number;
  failed: number;
  estimateUsd: number | null;
  costUsd: number | null;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** What a run would cost, before it starts (`POST /api/evals`, also with `dryRun`). */
export interface Estimate {
  items: number;
  candidateUsd: number | null;
  judgeUsd: number | null;
  totalUsd: number | null;
  knownUsd: number;
  unpricedModels: string[];
  skipped: Array<{ callId: string; reason: string }>;
}

/** A 95% interval, or null when there is nothing to estimate from. */
export type Interval = [number, number] | null;

export interface Rate {
  rate: number | null;
  ci: Interval;
}

export interface CheckReport {
  name: string;
  type: string;
  n: number;
  passed: number;
  failed: number;
  skipped: number;
  errors: number;
  passRate: Rate;
  meanScore: number | null;
}

export interface MeanReport {
  n: number;
  mean: number | null;
  ci: Interval;
}

export type JudgeReport =
  | {
      name: string;
      mode: "absolute";
      model: string;
      scale: [number, number];
      candidate: MeanReport;
      baseline: MeanReport;
      difference: MeanReport;
      errors: number;
      agreement: { n: number; agree: number; rate: Rate; kappa: number | null };
    }
  | {
      name: string;
      mode: "pairwise";
      model: string;
      n: number;
      wins: number;
      ties: number;
      losses: number;
      win: Rate;
      tie: Rate;
      loss: Rate;
      score: number | null;
      errors: number;
    };

export interface Summary {
  n: number;
  mean: number | null;
  p50: number | null;
  p95: number | null;
  total: number;
}

export interface WorstItem {
  index: number;
  baselineCallId: string;
  candidateCallId: string | null;
  baselineUrl: string;
  candidateUrl: string | null;
  failedChecks: Array<{ name: string; reason?: string }>;
  pairwise?: Array<{ name: string; outcome: string; reason?: string }>;
  judgeScores?: Array<{ name: string; candidate: number | null; baseline: number | null }>;
  error?: string;
}

export interface EvalReport {
  items: { total: number; done: number; failed: number };
  checks: CheckReport[];
  judges: JudgeReport[];
  cost: { baseline: Summary; candidate: Summary; judgeTotalUsd: number };
  latency: { baseline: Summary; candidate: Summary };
  worst: WorstItem[];
  methods: { proportions: string; means: string; percentiles: string };
}

export interface Progress {
  total: number;
  done: number;
  failed: number;
  pending: number;
  running: number;
}

/** `GET /api/evals/:id`. */
export interface RunState {
  run: RunView;
  progress: Progress;
  report: EvalReport;
}

export type MetricName = "reward" | "passRate" | "cost" | "latency" | "volume";

/** `GET /api/metrics/timeseries`: one bucket of one group, oldest first. */
export interface MetricBucket {
  t: string;
  group: string | null;
  value: number;
  n: number;
}
