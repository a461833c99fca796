/**
 * The keys domain: scoped API keys (`ingest`, `read`, `annotate`, `admin`), stored hashed, held in memory for
 * the request path, checked by the API's key middleware against each route's declared scope and by the proxy.
 * README.md beside this file has the table of scopes and the why.
 *
 * The door: what other folders use, by name.
 */
export { createKey, hashSecret, listKeys, revokeKey, SECRET_PREFIX } from "./book.ts";
export { allows, forbidden, KeyRing, type Principal } from "./ring.ts";
export { keysRoutes as routes } from "./routes.ts";
export {
  type CreateKeyInput,
  createdKeySchema,
  createKeySchema,
  type KeyView,
  keyListSchema,
  keyViewSchema,
  scopes,
} from "./schemas.ts";

import type { AppContext } from "../context.ts";
import { KeyRing } from "./ring.ts";

/** Loads the keys and reloads them in the background until the server closes. */
export async function start(ctx: AppContext): Promise<KeyRing> {
  const ring = new KeyRing(ctx.config.apiKey, ctx.store, ctx.log);
  await ring.refresh();
  ring.start(ctx.config.keysRefreshMs);
  ctx.onClose(() => ring.stop());
  return ring;
}
