/**
 * Pseudonymous user ids (`INTERSEBD_HASH_USER_IDS=1`): every user id a call carries is stored as
 * `uh_<HMAC-SHA256(secret, id) in hex>`, the same for the same id everywhere (header, body `user`, metadata
 * `userId`, SDK ingest, an experiment's assignment unit), so per-user metrics, filters and erasure still work
 * while the clear id never reaches the store, the spool or the set-aside files.
 *
 * Annotator ids are not hashed: they name the team's reviewers, not the service's end users.
 * Experiments assign by the clear id (SDKs compute the same buckets without the secret); only what is stored
 * is hashed.
 */
import { createHmac } from "node:crypto";
import type { Config } from "../config/index.ts";
import type { CapturedCall, UnbuiltCall } from "./record.ts";

const PREFIX = "uh_";
/** An id already in stored form: passed through, so that a filter by a listed id and a replay both match. */
const HASHED = /^uh_[0-9a-f]{64}$/;
/** Metadata keys that carry an end user's id (ours, and Anthropic's `metadata.user_id`). */
const METADATA_KEYS = ["userId", "user_id"] as const;

/** The id as the store keeps it: hashed when hashing is on, as given otherwise. */
export function storedUserId(config: Pick<Config, "userIds">, id: string): string {
  const { hash, secret } = config.userIds;
  if (!hash || !secret || HASHED.test(id)) return id;
  return PREFIX + createHmac("sha256", secret).update(id).digest("hex");
}

function withHashedKeys(
  obj: Record<string, unknown>,
  keys: readonly string[],
  hash: (id: string) => string,
): Record<string, unknown> | undefined {
  let out: Record<string, unknown> | undefined;
  for (const k of keys) {
    const v = obj[k];
    if (typeof v !== "string" || v === "") continue;
    const h = hash(v);
    if (h === v) continue;
    out ??= { ...obj };
    out[k] = h;
  }
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** The request body with its `user` and `metadata.userId`/`user_id` hashed; the same object when none is. */
function hashedRequest(
  request: Record<string, unknown>,
  hash: (id: string) => string,
): Record<string, unknown> {
  let out = withHashedKeys(request, ["user", "safety_identifier"], hash) ?? request;
  const md = request.metadata;
  if (isObject(md)) {
    const hashedMd = withHashedKeys(md, METADATA_KEYS, hash);
    if (hashedMd) out = { ...out, metadata: hashedMd };
  }
  return out;
}

/**
 * The call with every user id it carries hashed (when hashing is on): its `userId`, its metadata's, its request
 * body's `user` and `metadata.userId`, its assignment unit. The raw request text is dropped when the body
 * changed, so that the row is serialised from the hashed body.
 */
export function pseudonymize(config: Pick<Config, "userIds">, call: CapturedCall): CapturedCall {
  if (!config.userIds.hash) return call;
  const hash = (id: string) => storedUserId(config, id);
  const out: CapturedCall = { ...call };
  if (call.userId) out.userId = hash(call.userId);
  const md = withHashedKeys(call.metadata, METADATA_KEYS, hash);
  if (md) out.metadata = md;
  if (call.request) {
    const request = hashedRequest(call.request, hash);
    if (request !== call.request) {
      out.request = request;
      out.requestText = undefined;
    }
  }
  // Another protocol's bodies as received (Anthropic's `metadata.user_id`, Responses' `user`): hashed the same.
  if (call.originalRequest) {
    const original = hashedRequest(call.originalRequest, hash);
    if (original !== call.originalRequest) {
      out.originalRequest = original;
      out.originalRequestText = undefined;
    }
  }
  if (call.assignmentUnit?.startsWith("userId:"))
    out.assignmentUnit = `userId:${hash(call.assignmentUnit.slice("userId:".length))}`;
  return out;
}

/**
 * A call set aside unbuilt (rejected-*.jsonl), with its user ids hashed. Its raw request text is kept only when
 * it parses as a JSON object (then rewritten with the body's ids hashed); otherwise the clear id could hide in
 * it, and only its length is kept.
 */
export function pseudonymizeUnbuilt(config: Pick<Config, "userIds">, call: UnbuiltCall): UnbuiltCall {
  if (!config.userIds.hash) return call;
  const hash = (id: string) => storedUserId(config, id);
  let requestText = call.requestText;
  if (requestText !== null) {
    let body: unknown;
    try {
      body = JSON.parse(requestText);
    } catch {}
    const placeholder = `[${requestText.length} chars; not kept: user ids are hashed]`;
    try {
      requestText = isObject(body) ? JSON.stringify(hashedRequest(body, hash)) : placeholder;
    } catch {
      // Too deep to serialise again: setting a call aside must never throw.
      requestText = placeholder;
    }
  }
  return { ...call, userId: call.userId ? hash(call.userId) : null, requestText };
}
