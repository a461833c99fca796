/**
 * Annotation-link tokens (`/a/{token}`): `<base64url(JSON {n, exp})>.<base64url(HMAC-SHA256)>`, bound to one
 * notification id and its expiry (ms since epoch). The token is the only credential on `/api/a/*`: it opens that
 * one notification and nothing else.
 *
 * The key is `INTERSEBD_TOKEN_SECRET`, or else a random one generated once and kept in the store's `settings`
 * table, so every instance on the same database signs and verifies alike and links survive restarts.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { HttpError } from "../http/error.ts";
import type { Store } from "../store/index.ts";

export interface TokenClaims {
  /** The notification id. */
  n: string;
  /** Expiry, ms since epoch. */
  exp: number;
}

const SECRET_KEY = "token_secret";
const secrets = new WeakMap<Store, Promise<Buffer>>();

/**
 * The signing key: the configured secret, or the one stored in `settings` (created by whichever instance
 * asks first; the others read it back).
 */
export function tokenSecret(store: Store, configured: string | undefined): Promise<Buffer> {
  if (configured) return Promise.resolve(Buffer.from(configured, "utf8"));
  let p = secrets.get(store);
  if (!p) {
    p = (async () => {
      await store.db
        .insertInto("settings")
        .values({ key: SECRET_KEY, value: randomBytes(32).toString("base64url") })
        .onConflict((oc) => oc.column("key").doNothing())
        .execute();
      const row = await store.db
        .selectFrom("settings")
        .select("value")
        .where("key", "=", SECRET_KEY)
        .executeTakeFirstOrThrow();
      return Buffer.from(row.value, "utf8");
    })();
    // A failure (database down) is not remembered: the next request tries again.
    p.catch(() => secrets.delete(store));
    secrets.set(store, p);
  }
  return p;
}

const mac = (key: Buffer, payload: string) => createHmac("sha256", key).update(payload).digest("base64url");

/**
 * Signs a token for one notification.
 * @example signToken(key, { n: "ntf_01…", exp: Date.now() + 7 * 86400_000 }) // "eyJuIjoi….Zk3…"
 */
export function signToken(key: Buffer, claims: TokenClaims): string {
  const payload = Buffer.from(JSON.stringify({ n: claims.n, exp: claims.exp })).toString("base64url");
  return `${payload}.${mac(key, payload)}`;
}

const INVALID = "this link is not valid: its signature does not match (was it copied completely?)";

/**
 * Checks a token's signature (in constant time) and expiry.
 * @throws HttpError 401 when it is malformed or its signature does not match, 410 when it has expired.
 */
export function verifyToken(key: Buffer, token: string, now = Date.now()): TokenClaims {
  const dot = token.indexOf(".");
  if (dot <= 0 || dot !== token.lastIndexOf("."))
    throw new HttpError(401, INVALID, { code: "invalid_token" });
  const payload = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1), "utf8");
  const expected = Buffer.from(mac(key, payload), "utf8");
  // Compared as the base64url text, so no other spelling of the same bytes is accepted.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new HttpError(401, INVALID, { code: "invalid_token" });
  }
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    throw new HttpError(401, INVALID, { code: "invalid_token" });
  }
  const c = claims as Partial<TokenClaims> | null;
  if (!c || typeof c.n !== "string" || typeof c.exp !== "number") {
    throw new HttpError(401, INVALID, { code: "invalid_token" });
  }
  if (c.exp <= now) {
    throw new HttpError(410, `this link expired on ${new Date(c.exp).toISOString()}; ask for a new one`, {
      code: "link_expired",
    });
  }
  return { n: c.n, exp: c.exp };
}
