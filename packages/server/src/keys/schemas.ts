/** The keys API's shapes (names: PRODUCT.md, "Names for what comes next"). */
import { z } from "zod";
import type { Scope } from "../http/index.ts";

export const scopes = ["ingest", "read", "annotate", "admin"] as const satisfies readonly Scope[];

export const scopeSchema = z.enum(scopes);

export const createKeySchema = z.object({
  name: z.string().trim().min(1).max(200),
  scopes: z.array(scopeSchema).min(1),
  /** Upstream names the key may proxy to (`default` is `/v1`); absent: any. */
  upstreams: z.array(z.string().min(1)).min(1).optional(),
});
export type CreateKeyInput = z.infer<typeof createKeySchema>;

/** A key as listed: never its secret, which only its creation answers. */
export const keyViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  scopes: z.array(scopeSchema),
  upstreams: z.array(z.string()).nullable(),
  createdAt: z.number(),
  /** Coarse: updated at most once a minute. */
  lastUsedAt: z.number().nullable(),
  revokedAt: z.number().nullable(),
});
export type KeyView = z.infer<typeof keyViewSchema>;

export const createdKeySchema = keyViewSchema.extend({
  /** The key itself, shown this once: only its SHA-256 is stored. */
  secret: z.string(),
});

export const keyListSchema = z.object({ data: z.array(keyViewSchema) });
