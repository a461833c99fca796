/** Tables of the erasure domain (erasure/), as Kysely sees them (camelCase; snake_case in SQL). */

/** One erasure: who asked, when, what selector (hashed), and how many rows of each kind went. Never content. */
export interface AuditLogTable {
  id: string;
  at: number;
  /** The API key's name, or `admin` for the single `INTERSEBD_API_KEY` (or no key at all). */
  actor: string;
  /** `erase`. */
  action: string;
  /** `userId`, `sessionId` or `tag`. */
  selectorKind: string;
  /** Hex SHA-256 of the selector's value as stored (a user id is hashed first when INTERSEBD_HASH_USER_IDS is on). */
  selectorHash: string;
  /** JSON object: rows erased per kind (`ErasureCounts`). */
  counts: string;
}

export interface ErasureTables {
  auditLog: AuditLogTable;
}
