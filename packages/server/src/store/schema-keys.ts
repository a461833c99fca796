/** Tables of the keys domain (keys/), as Kysely sees them (camelCase; snake_case in SQL). */

export interface ApiKeysTable {
  id: string;
  name: string;
  /** Hex SHA-256 of the secret; the secret itself is never stored. */
  secretHash: string;
  /** JSON array of scopes. */
  scopes: string;
  /** JSON array of upstream names the key may proxy to; null: any. */
  upstreams: string | null;
  createdAt: number;
  /** Coarse (written at most once a minute per key); null: never used. */
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export interface KeysTables {
  apiKeys: ApiKeysTable;
}
