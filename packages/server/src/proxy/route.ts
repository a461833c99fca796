/**
 * Maps an incoming path to an upstream: `/v1/*` to the default one, `/<name>/v1/*` to a named one.
 */
import { DEFAULT_UPSTREAM_NAME, type Upstream } from "../config/index.ts";
import { HttpError } from "../http/error.ts";

export interface ProxyRoute {
  upstream: Upstream;
  /** Path and query to request from the upstream (its base path + the part after `/v1`). */
  upstreamPath: string;
  /** The part after `/v1` (path and query), for sending the request to another upstream (an experiment's variant). */
  rest: string;
  /**
   * The protocol of a call that is stored: `POST .../chat/completions`, `.../responses` (OpenAI Responses) or
   * `.../messages` (Anthropic Messages); undefined for everything else, which is forwarded and not stored.
   */
  protocol: RecordedProtocol | undefined;
}

export type RecordedProtocol = "chat" | "responses" | "messages";

export type RouteResult = ProxyRoute | { unknownUpstream: string } | undefined;

const badPath = (why: string) =>
  new HttpError(400, `request path ${why}`, { field: "path", code: "bad_path" });

function decodePath(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw badPath("is not valid percent-encoding (a % must be followed by two hex digits of UTF-8)");
  }
}

/**
 * Refuses a path that could climb out of the upstream's base path: a `.` or `..` segment, raw or
 * percent-encoded (`%2e%2e`), also between backslashes or encoded slashes, which some servers treat as
 * separators. Nothing a client of an OpenAI-compatible API sends has one, so refusing is simpler and safer than
 * normalising. Paths with no `.`, `%` or `\` (nearly all) cost one scan each.
 */
function assertNoDotSegments(path: string): void {
  if (!/[.%\\]/.test(path)) return;
  const decoded = path.includes("%") ? decodePath(path) : path;
  if (decoded.split(/[/\\]/).some((s) => s === "." || s === "..")) {
    throw badPath("has a `.` or `..` segment, which could leave the upstream's base path");
  }
}

/**
 * Returns the route, `{ unknownUpstream }` for `/<name>/v1/*` with no such upstream, or undefined if not a proxy
 * path.
 * @throws HttpError 400 when the path is not valid percent-encoding or has dot segments.
 */
export function routeRequest(method: string, url: string, upstreams: Map<string, Upstream>): RouteResult {
  // OTLP's fixed path is this server's own trace ingest (otlp/), not the default upstream's; `/<name>/v1/traces` stays a proxy path.
  if (url === "/v1/traces" || url.startsWith("/v1/traces?")) return undefined;
  let name: string;
  let rest: string;
  if (url.startsWith("/v1/") || url === "/v1" || url.startsWith("/v1?")) {
    name = DEFAULT_UPSTREAM_NAME;
    rest = url.slice(3);
  } else {
    const m = /^\/([^/?]+)\/v1(?=[/?]|$)/.exec(url);
    if (!m?.[1]) return undefined;
    name = m[1].includes("%") ? decodePath(m[1]) : m[1];
    rest = url.slice(m[0].length);
    if (name === "api") return undefined;
  }
  const q = rest.indexOf("?");
  const pathOnly = q === -1 ? rest : rest.slice(0, q);
  assertNoDotSegments(pathOnly);
  const upstream = upstreams.get(name);
  if (!upstream) return { unknownUpstream: name };
  return {
    upstream,
    upstreamPath: upstream.baseUrl.pathname + rest,
    rest,
    protocol: method === "POST" ? protocolOf(pathOnly) : undefined,
  };
}

/** Only the creating POSTs: `GET /responses/{id}`, `.../cancel` or `/messages/count_tokens` are not calls. */
function protocolOf(path: string): RecordedProtocol | undefined {
  if (/^\/chat\/completions\/?$/.test(path)) return "chat";
  if (/^\/responses\/?$/.test(path)) return "responses";
  if (/^\/messages\/?$/.test(path)) return "messages";
  return undefined;
}
