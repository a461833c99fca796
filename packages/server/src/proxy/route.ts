/**
 * Maps an incoming path to an upstream: `/v1/*` to the default one, `/<name>/v1/*` to a named one.
 */
import { DEFAULT_UPSTREAM_NAME, type Upstream } from "../config/index.ts";

export interface ProxyRoute {
  upstream: Upstream;
  /** Path and query to request from the upstream (its base path + the part after `/v1`). */
  upstreamPath: string;
  /** True for `POST .../chat/completions`, the only calls that are stored. */
  isChat: boolean;
}

export type RouteResult = ProxyRoute | { unknownUpstream: string } | undefined;

/** Returns the route, `{ unknownUpstream }` for `/<name>/v1/*` with no such upstream, or undefined if not a proxy path. */
export function routeRequest(method: string, url: string, upstreams: Map<string, Upstream>): RouteResult {
  let name: string;
  let rest: string;
  if (url.startsWith("/v1/") || url === "/v1" || url.startsWith("/v1?")) {
    name = DEFAULT_UPSTREAM_NAME;
    rest = url.slice(3);
  } else {
    const m = /^\/([^/?]+)\/v1(?=[/?]|$)/.exec(url);
    if (!m?.[1]) return undefined;
    name = decodeURIComponent(m[1]);
    rest = url.slice(m[0].length);
    if (name === "api") return undefined;
  }
  const upstream = upstreams.get(name);
  if (!upstream) return { unknownUpstream: name };
  const q = rest.indexOf("?");
  const pathOnly = q === -1 ? rest : rest.slice(0, q);
  return {
    upstream,
    upstreamPath: upstream.baseUrl.pathname + rest,
    isChat: method === "POST" && /^\/chat\/completions\/?$/.test(pathOnly),
  };
}
