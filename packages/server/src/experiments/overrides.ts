/**
 * What a variant changes in a chat completion request: the model, the system prompt or a prompt version's
 * messages, and parameters. Pure: the proxy applies it to a live request, the shadow runner to a copy.
 */
import type { Variant } from "./schemas.ts";

const SYSTEM_ROLES = new Set(["system", "developer"]);
const roleOf = (m: unknown) => (m && typeof m === "object" ? (m as { role?: unknown }).role : undefined);

/** `{{key}}` in a template, filled from the request's metadata; an unknown key is left as written. */
export function fillTemplate(text: string, metadata: Record<string, unknown>): string {
  return text.replace(/\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g, (whole, key: string) => {
    const v = metadata[key];
    return typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? String(v) : whole;
  });
}

/**
 * The request body the variant sends. `params` set fields (`null` removes one); `messages` (a prompt version)
 * replace the request's system and developer messages and go first; `systemPrompt` replaces the first system or
 * developer message (added first when there is none). The caller's `stream` and `stream_options` are kept:
 * the client reads the answer the way it asked for it.
 */
export function applyVariant(
  body: Record<string, unknown>,
  variant: Pick<Variant, "model" | "systemPrompt" | "params" | "messages">,
  metadata: Record<string, unknown> = {},
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  if (variant.model) out.model = variant.model;
  const messages = Array.isArray(body.messages) ? (body.messages as unknown[]) : [];
  if (variant.messages) {
    const template = variant.messages.map((m) => ({
      role: m.role,
      content: fillTemplate(m.content, metadata),
    }));
    out.messages = [...template, ...messages.filter((m) => !SYSTEM_ROLES.has(roleOf(m) as string))];
  } else if (variant.systemPrompt !== undefined) {
    const i = messages.findIndex((m) => SYSTEM_ROLES.has(roleOf(m) as string));
    if (i < 0) out.messages = [{ role: "system", content: variant.systemPrompt }, ...messages];
    else {
      const copy = [...messages];
      copy[i] = { ...(messages[i] as Record<string, unknown>), content: variant.systemPrompt };
      out.messages = copy;
    }
  }
  for (const [k, v] of Object.entries(variant.params ?? {})) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}
