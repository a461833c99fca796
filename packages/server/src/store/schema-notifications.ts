/** Tables of the notifications domain, as Kysely sees them (camelCase; snake_case in SQL). */

/** A webhook delivery of one notification (`notification.created`), claimed by any server instance. */
export interface WebhookJobsTable {
  /** Also the `webhook-id` header: stable across retries so receivers can drop duplicates. */
  id: string;
  notificationId: string;
  /** The JSON body, fixed at enqueue time so every attempt sends the same bytes. */
  payload: string;
  /** `pending`, `delivered` or `failed`. */
  status: string;
  attempts: number;
  nextAttemptAt: number;
  /** Lease of the instance working on it (ms); expired or null: free to claim. */
  lockedUntil: number | null;
  lockedBy: string | null;
  lastError: string | null;
  createdAt: number;
  deliveredAt: number | null;
  /** Where this job goes (an alert's webhook, migration 0012); null: the notifications' INTERSEBD_WEBHOOK_URL. */
  url: string | null;
}

/** A named feedback form. */
export interface RubricsTable {
  name: string;
  /** JSON: the `RubricDefinition`. */
  definition: string;
  /** `file` (INTERSEBD_RUBRICS_FILE) or `app` (PUT /api/rubrics/{name}). */
  source: string;
  /** JSON: what the rubrics file last said for this name; null when the file never named it. */
  fileDefinition: string | null;
  createdAt: number;
  updatedAt: number;
}

/** Generated server settings shared by every instance (e.g. the annotation-link signing key). */
export interface SettingsTable {
  key: string;
  value: string;
}

export interface NotificationsTables {
  webhookJobs: WebhookJobsTable;
  rubrics: RubricsTable;
  settings: SettingsTable;
}
