/** Tables of the review queues (notifications/queues.ts), as Kysely sees them (camelCase; snake_case in SQL). */

/** A queue: items dealt to `perItem` distinct reviewers each. */
export interface ReviewQueuesTable {
  id: string;
  name: string;
  /** JSON: `{ dataset }`, `{ callIds }` or `{ sample: { n, filter? } }`, as given. */
  source: string;
  /** JSON array of names. */
  reviewers: string;
  perItem: number;
  rubric: string;
  /** JSON: field name → `nominal` | `ordinal` | `interval`; null: each field's type decides. */
  levels: string | null;
  itemCount: number;
  createdAt: number;
}

/** One reviewer's assignment of one item, through its own notification (and signed link). */
export interface ReviewQueueItemsTable {
  queueId: string;
  /** The item's place in the queue (0-based), the same for its reviewers. */
  position: number;
  callId: string;
  reviewer: string;
  notificationId: string;
}

export interface ReviewQueuesTables {
  reviewQueues: ReviewQueuesTable;
  reviewQueueItems: ReviewQueueItemsTable;
}
