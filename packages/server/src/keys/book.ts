/**
 * The stored keys. A key's secret is 32 random bytes (256 bits), shown once; the store keeps its SHA-256. A slow
 * password hash (bcrypt, scrypt) defends guessable secrets against a stolen table; these are not guessable, so
 * one SHA-256 is as safe and lets every request be checked by a map lookup instead of ~100 ms of hashing.
 */
import { createHash, randomBytes } from "node:crypto";
import { HttpError } from "../http/error.ts";
import type { Scope } from "../http/index.ts";
import type { Store } from "../store/index.ts";
import type { ApiKeysTable } from "../store/schema-keys.ts";
import { newId } from "../util/ids.ts";
import type { CreateKeyInput, KeyView } from "./schemas.ts";

/** Recognisable in logs and secret scanners; the rest is base64url of 32 random bytes. */
export const SECRET_PREFIX = "isk_";

export const hashSecret = (secret: string): string => createHash("sha256").update(secret).digest("hex");

export function viewOf(row: ApiKeysTable): KeyView {
  return {
    id: row.id,
    name: row.name,
    scopes: JSON.parse(row.scopes) as Scope[],
    upstreams: row.upstreams === null ? null : (JSON.parse(row.upstreams) as string[]),
    createdAt: Number(row.createdAt),
    lastUsedAt: row.lastUsedAt === null ? null : Number(row.lastUsedAt),
    revokedAt: row.revokedAt === null ? null : Number(row.revokedAt),
  };
}

export async function createKey(
  store: Store,
  input: CreateKeyInput,
  now = Date.now(),
): Promise<KeyView & { secret: string }> {
  const secret = SECRET_PREFIX + randomBytes(32).toString("base64url");
  const row: ApiKeysTable = {
    id: newId("key", now),
    name: input.name,
    secretHash: hashSecret(secret),
    scopes: JSON.stringify([...new Set(input.scopes)]),
    upstreams: input.upstreams ? JSON.stringify([...new Set(input.upstreams)]) : null,
    createdAt: now,
    lastUsedAt: null,
    revokedAt: null,
  };
  await store.db.insertInto("apiKeys").values(row).execute();
  return { ...viewOf(row), secret };
}

/** Every key, revoked ones included, newest first. */
export async function listKeys(store: Store): Promise<ApiKeysTable[]> {
  return store.db
    .selectFrom("apiKeys")
    .selectAll()
    .orderBy("createdAt", "desc")
    .orderBy("id", "desc")
    .execute();
}

/** Revokes a key (idempotent: a revoked key keeps its first revocation time); 404 for an unknown id. */
export async function revokeKey(store: Store, id: string, now = Date.now()): Promise<KeyView> {
  await store.db
    .updateTable("apiKeys")
    .set({ revokedAt: now })
    .where("id", "=", id)
    .where("revokedAt", "is", null)
    .execute();
  const row = await store.db.selectFrom("apiKeys").selectAll().where("id", "=", id).executeTakeFirst();
  if (!row) throw new HttpError(404, `no API key ${id}`, { field: "id" });
  return viewOf(row);
}

export async function touchKeys(store: Store, ids: string[], at: number): Promise<void> {
  if (ids.length)
    await store.db.updateTable("apiKeys").set({ lastUsedAt: at }).where("id", "in", ids).execute();
}
