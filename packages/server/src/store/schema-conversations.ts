/** Tables of the conversations domain, as Kysely sees them (camelCase; snake_case in SQL). */

export interface ConversationEvalsTable {
  id: string;
  /** `running` while items are left, then `done`; `stopped` when the cost cap left items unrun. */
  status: string;
  /** JSON: the request as validated (conversations/schemas.ts), criteria and defaults filled in. */
  definition: string;
  total: number;
  createdAt: number;
  finishedAt: number | null;
  /** The cap on the running total of its calls' cost (USD); null: none. */
  maxCostUsd: number | null;
  /** The estimate made before it started (USD); null when a model's price is unknown. */
  estimateUsd: number | null;
}

/** One regeneration: a slice of a session, one candidate, one context length. */
export interface ConversationEvalItemsTable {
  evalId: string;
  itemIndex: number;
  sessionId: string;
  /** Indexes into the dialogue's non-system turns: the slice's first, and the one regenerated. */
  sliceStart: number;
  targetIndex: number;
  candidate: string;
  /** Null: the whole slice before the regenerated turn. */
  contextLength: number | null;
  /** JSON: the Chat Completions body sent for the regeneration. */
  request: string;
  /** The slice's context as the judge reads it (always the whole slice). */
  judgeContext: string;
  /** The original assistant turn's text. */
  original: string;
  originalCallId: string | null;
  regenCallId: string | null;
  /** The regenerated turn's text. */
  regen: string | null;
  /** `pending`, `running`, `done`, `failed`, or `skipped` (the cost cap was reached before it ran). */
  status: string;
  attempts: number;
  lease: string | null;
  lockedUntil: number | null;
  error: string | null;
  /** USD of its regeneration and judge calls, priced from their usage (calls/pricing.ts); null before any. */
  costUsd: number | null;
  /** Its calls whose model has no known price (their cost is not in `costUsd`). */
  unpricedCalls: number;
}

export interface ConversationsTables {
  conversationEvals: ConversationEvalsTable;
  conversationEvalItems: ConversationEvalItemsTable;
}
