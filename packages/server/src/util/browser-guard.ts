/**
 * Keeps web browsers from being used against intersebd. With auth off (the default, on loopback), anything that
 * reaches the port is trusted, and a browser reaches it on behalf of every site its user visits: a page on
 * another site could POST annotations, or send chat completions that carry the operator's upstream key, and a
 * DNS-rebinding page (its own name resolving to 127.0.0.1) could read the calls. Run on every request, before the
 * proxy and the API, this refuses:
 *
 * - a request whose Host is not a name of this machine, when bound to loopback (DNS rebinding): 421;
 * - a request a browser sent for another site: `Sec-Fetch-Site` `cross-site`/`same-site`, or an `Origin` that is
 *   neither this server's own, `INTERSEBD_PUBLIC_URL`'s nor in `INTERSEBD_ALLOWED_ORIGINS` (`null` included): 403.
 *   A top-level GET navigation to an app page stays allowed (a mailed `/a/{token}` link, clicked anywhere);
 * - a body that is not `application/json` outside the proxy: 415. A browser sends JSON cross-site only after a
 *   CORS preflight, which nothing here answers; a `text/plain` "simple" request needs none. The proxy's paths
 *   take multipart (files, audio) too, so there the Origin check above is the protection.
 *
 * Clients that are not browsers (the SDKs, the openai clients, curl) send neither Origin nor Sec-Fetch-Site,
 * and pass. Every answer also gets the headers that keep it out of frames and its URL out of Referer.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { type Config, LOOPBACK_HOSTS } from "../config/index.ts";
import { HttpError } from "../http/error.ts";

/** Paths that belong to the API, the proxy and operations, never to the web app. */
const NOT_APP = /^\/(?:api|v1|healthz|metrics)(?:\/|$)|^\/[^/]+\/v1(?:\/|$)/;
/** The proxy's paths, as `proxy/route.ts` reads them: `/v1/...` and `/<name>/v1/...` (but not `/api/v1`). */
const PROXY = /^\/(?:([^/]+)\/)?v1(?:\/|$)/;

/** The path without its query, and its decoded form when it has one (Hono routes on the decoded path). */
function pathForms(url: string): string[] {
  const q = url.indexOf("?");
  const raw = q === -1 ? url : url.slice(0, q);
  if (!raw.includes("%")) return [raw];
  try {
    return [raw, decodeURI(raw)];
  } catch {
    return [raw];
  }
}

/** Whether `pathname` is a page of the web app (not the API, the proxy, `/healthz` or `/metrics`). */
export function isAppPath(pathname: string): boolean {
  return !NOT_APP.test(pathname);
}

/** Whether the proxy takes this path: `/v1/...`, or `/<name>/v1/...` for any name but `api` (as `proxy/route.ts`). */
function isProxyPath(pathname: string): boolean {
  const m = PROXY.exec(pathname);
  if (!m) return false;
  if (m[1] === undefined) return true;
  try {
    return decodeURIComponent(m[1]) !== "api";
  } catch {
    return false;
  }
}

/** `host[:port]` as the URL parser normalizes it for `protocol` (default port dropped), or undefined. */
function hostOf(hostHeader: string, protocol = "http:"): string | undefined {
  try {
    const u = new URL(`${protocol}//${hostHeader}`);
    // A Host with a path, credentials or anything else is not a host.
    if (u.pathname !== "/" || u.username || u.password || u.search || u.hash) return undefined;
    return u.host;
  } catch {
    return undefined;
  }
}

const isLoopbackName = (hostname: string) =>
  hostname === "localhost" ||
  hostname === "127.0.0.1" ||
  hostname === "[::1]" ||
  hostname.endsWith(".localhost");

export type BrowserGuard = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * Makes the guard for a server with this configuration. It answers (and returns false) when it refuses a
 * request; otherwise it only adds the response headers and returns true.
 *
 * @example
 * const guard = createBrowserGuard(config);
 * http.createServer((req, res) => { if (!guard(req, res)) return; ... });
 */
export function createBrowserGuard(
  config: Pick<Config, "host" | "publicUrl" | "allowedOrigins">,
): BrowserGuard {
  const publicUrl = config.publicUrl ? new URL(config.publicUrl) : undefined;
  const allowed = new Set(config.allowedOrigins);
  if (publicUrl) allowed.add(publicUrl.origin);
  // Names people reach this server by, besides loopback ones: the public URL's and the allowed origins'.
  const knownHosts = new Set([...allowed].map((o) => new URL(o).host));
  const loopbackOnly = LOOPBACK_HOSTS.has(config.host);

  const refuse = (res: ServerResponse, err: HttpError) => {
    const body = JSON.stringify(err.toJSON());
    res.writeHead(err.status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      "cache-control": "no-store",
    });
    res.end(body);
    return false;
  };

  return (req, res) => {
    res.setHeader("X-Frame-Options", "DENY");
    res.setHeader("Referrer-Policy", "no-referrer");
    res.setHeader("X-Content-Type-Options", "nosniff");
    const h = req.headers;

    const hostHeader = h.host;
    if (
      loopbackOnly &&
      hostHeader !== undefined &&
      !isOwnHost(hostHeader, req.socket.localPort, knownHosts)
    ) {
      return refuse(
        res,
        new HttpError(
          421,
          `this server answers only to its own names (localhost, 127.0.0.1, [::1] on port ${req.socket.localPort}), ` +
            `not to Host "${hostHeader.slice(0, 200)}": reach it by one of those, or set INTERSEBD_PUBLIC_URL to ` +
            "the URL people use",
          { code: "unknown_host" },
        ),
      );
    }

    const forms = pathForms(req.url ?? "/");
    const origin = h.origin;
    const site = h["sec-fetch-site"];
    const navigation =
      (req.method === "GET" || req.method === "HEAD") &&
      h["sec-fetch-mode"] === "navigate" &&
      h["sec-fetch-dest"] === "document" &&
      forms.every(isAppPath);
    if (!navigation) {
      const allowedOrigin = origin !== undefined && isOwnOrAllowed(origin, hostHeader, allowed);
      const foreignOrigin = origin !== undefined && !allowedOrigin;
      const foreignSite = (site === "cross-site" || site === "same-site") && !allowedOrigin;
      if (foreignOrigin || foreignSite) {
        const from =
          origin !== undefined ? `Origin ${origin.slice(0, 200)}` : `another site (Sec-Fetch-Site: ${site})`;
        return refuse(
          res,
          new HttpError(
            403,
            `refused a browser request from ${from}: only this server's own pages may call it. To allow a site, ` +
              "add its origin to INTERSEBD_ALLOWED_ORIGINS (comma-separated, e.g. https://app.example.com)",
            { code: "cross_site_refused" },
          ),
        );
      }
    }

    // A site listed in INTERSEBD_ALLOWED_ORIGINS gets CORS answers, so its pages can send JSON (which a browser
    // sends cross-site only after a preflight) and read the answers. Own pages are same-origin and need none.
    if (origin !== undefined && allowed.has(origin)) {
      res.setHeader("Access-Control-Allow-Origin", origin);
      res.setHeader("Vary", "Origin");
      res.setHeader("Access-Control-Expose-Headers", "x-intersebd-call-id, retry-after");
      if (req.method === "OPTIONS" && h["access-control-request-method"] !== undefined) {
        res.writeHead(204, {
          "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE",
          "Access-Control-Allow-Headers": preflightHeaders(h["access-control-request-headers"]),
          "Access-Control-Max-Age": "600",
        });
        res.end();
        return false;
      }
    }

    if (hasBody(req) && !isProxyPath(forms[0] as string)) {
      const type = h["content-type"];
      const essence = type?.split(";")[0]?.trim().toLowerCase();
      if (essence !== "application/json") {
        return refuse(
          res,
          new HttpError(
            415,
            `request body must be JSON, sent with Content-Type: application/json (got ${
              type === undefined ? "no Content-Type" : `"${type.slice(0, 200)}"`
            })`,
            { code: "unsupported_media_type", field: "content-type" },
          ),
        );
      }
    }
    return true;
  };
}

/**
 * Whether a loopback-bound server was reached by one of its own names: a loopback name on the port the connection
 * arrived at, or the host of the public URL or of an allowed origin. A rebinding page's Host is its own name.
 */
function isOwnHost(hostHeader: string, port: number | undefined, known: Set<string>): boolean {
  // The common spellings, without parsing: this runs on every proxied call.
  if (hostHeader === `127.0.0.1:${port}` || hostHeader === `localhost:${port}`) return true;
  const host = hostOf(hostHeader);
  if (host === undefined) return false;
  const url = new URL(`http://${host}`);
  if (isLoopbackName(url.hostname) && Number(url.port || 80) === port) return true;
  // `example.com:443` names https://example.com.
  return known.has(host) || known.has(hostOf(hostHeader, "https:") ?? "");
}

/** Whether `origin` is this server's (the Host it was reached by), the public URL's or an allowed one. */
function isOwnOrAllowed(origin: string, hostHeader: string | undefined, allowed: Set<string>): boolean {
  // `null` (sandboxed frames, opaque origins) and anything unparsable are foreign.
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return false;
  if (allowed.has(url.origin)) return true;
  // Same origin: the page was served by the name the request is addressed to (over http, or https through a
  // TLS-terminating proxy). On loopback the Host check above has already vouched for that name.
  return hostHeader !== undefined && hostOf(hostHeader, url.protocol) === url.host;
}

/** Whether the request carries a body: a declared length above 0, or a chunked one. */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  if (length !== undefined) return Number(length) > 0 || Number.isNaN(Number(length));
  return req.headers["transfer-encoding"] !== undefined;
}

/** The request headers a preflight may ask for, echoed back when they are plain header names. */
function preflightHeaders(requested: string | undefined): string {
  const names = (requested ?? "")
    .split(",")
    .map((n) => n.trim())
    .filter((n) => /^[A-Za-z0-9-]{1,100}$/.test(n));
  return names.length ? names.join(", ") : "content-type";
}
