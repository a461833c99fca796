/**
 * Which headers cross the proxy. Hop-by-hop headers belong to one connection (RFC 9110 §7.6.1) and are
 * never forwarded; `x-intersebd-*` headers are ours, read and dropped.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import { HttpError } from "../http/error.ts";
import { jsonDepth, MAX_JSON_DEPTH } from "../util/bounds.ts";

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
]);

/** What the service told us about the call through `x-intersebd-*` headers. */
export interface CallContext {
  sessionId: string | null;
  userId: string | null;
  tags: string[];
  metadata: Record<string, unknown>;
  key: string | undefined;
  /** `x-intersebd-experiment`, `x-intersebd-variant`, `x-intersebd-shadow-of` (experiments/router.ts). */
  experiment: string | null;
  variant: string | null;
  shadowOf: string | null;
}

export const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/**
 * Splits raw request headers into those to forward and our own context.
 * @throws HttpError 400 when `x-intersebd-metadata` is not a JSON object.
 */
export function splitRequestHeaders(raw: string[]): {
  forward: string[];
  context: CallContext;
  hasAuth: boolean;
} {
  const forward: string[] = [];
  const ours: IncomingHttpHeaders = {};
  let hasAuth = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    if (lower.startsWith("x-intersebd-")) {
      ours[lower] = value;
      continue;
    }
    if (HOP_BY_HOP.has(lower)) continue;
    if (lower === "authorization" || lower === "api-key" || lower === "x-api-key") hasAuth = true;
    forward.push(name, value);
  }
  let metadata: Record<string, unknown> = {};
  const rawMeta = first(ours["x-intersebd-metadata"]);
  if (rawMeta) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawMeta);
    } catch {
      throw new HttpError(400, "x-intersebd-metadata header is not valid JSON (expected a JSON object)", {
        field: "x-intersebd-metadata",
      });
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new HttpError(400, "x-intersebd-metadata header must be a JSON object", {
        field: "x-intersebd-metadata",
      });
    }
    // Stored with the call and read back by every list: it must not nest deeper than readers can walk.
    if (jsonDepth(parsed, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
      throw new HttpError(
        400,
        `x-intersebd-metadata header is nested more than ${MAX_JSON_DEPTH} levels deep`,
        {
          field: "x-intersebd-metadata",
        },
      );
    }
    metadata = parsed as Record<string, unknown>;
  }
  const tags = (first(ours["x-intersebd-tags"]) ?? "")
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  return {
    forward,
    hasAuth,
    context: {
      sessionId: first(ours["x-intersebd-session-id"]) || null,
      userId: first(ours["x-intersebd-user-id"]) || null,
      tags,
      metadata,
      key: first(ours["x-intersebd-key"]),
      experiment: first(ours["x-intersebd-experiment"])?.trim() || null,
      variant: first(ours["x-intersebd-variant"])?.trim() || null,
      shadowOf: first(ours["x-intersebd-shadow-of"])?.trim() || null,
    },
  };
}

/** Response headers to send back: the upstream's, less hop-by-hop ones, plus the call id. */
export function responseHeaders(raw: string[], callId: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (HOP_BY_HOP.has(name)) continue;
    const value = raw[i + 1] as string;
    const prev = out[name];
    out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [String(prev), value];
  }
  out["x-intersebd-call-id"] = callId;
  return out;
}
