/** Tables of the conversations domain, as Kysely sees them (camelCase; snake_case in SQL). */

export interface ConversationEvalsTable {
  id: string;
  /** `running` while items are left, then `done`. */
  status: string;
  /** JSON: the request as validated (conversations/schemas.ts), criteria and defaults filled in. */
  definition: string;
  total: number;
  createdAt: number;
  finishedAt: number | null;
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
  /** `pending`, `running`, `done` or `failed`. */
  status: string;
  attempts: number;
  lease: string | null;
  lockedUntil: number | null;
  error: string | null;
}

export interface ConversationsTables {
  conversationEvals: ConversationEvalsTable;
  conversationEvalItems: ConversationEvalItemsTable;
}
