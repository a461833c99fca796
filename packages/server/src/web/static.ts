/**
 * Serves the built web app (`packages/server/webapp`, made by `npm run build`) at `/`: files as they are, and
 * `index.html` for any other page URL (`/calls/...`, `/a/{token}`, ...) so the app's router can show it.
 * Vite names the files under `/assets/` by their content hash, so they are cached for a year; `index.html`
 * is revalidated on every load so a new build is picked up at once.
 */
import fs from "node:fs";
import path from "node:path";
import { serveStatic } from "@hono/node-server/serve-static";
import type { Context, Hono } from "hono";
import { isAppPath } from "../util/browser-guard.ts";

/**
 * Where `npm run build -w @intersebd/web` writes the app: `webapp/` at the server package's root, the same two
 * levels up from src/web/ (in the repository) and from dist/web/ (in the npm package, which ships it).
 */
export const WEB_DIST = path.resolve(import.meta.dirname, "../../webapp");

/**
 * The app's Content-Security-Policy. The build has no inline script or style (Vite emits files; React and uPlot
 * set styles through the CSSOM, which CSP does not govern), so nothing but this origin runs or styles the page.
 * Images in conversations may come from anywhere over http(s) or be inline `data:`; nothing may frame a page
 * (an `/a/{token}` page could otherwise be clickjacked into an answer).
 */
export const APP_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: https: http:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "object-src 'none'",
].join("; ");

/** The page shown before the app is built: its own inline styles, and nothing else. */
const NOT_BUILT_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const IMMUTABLE = "public, max-age=31536000, immutable";

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>intersebd: web app not built</title></head>
<body style="font: 15px/1.5 system-ui, sans-serif; max-width: 640px; margin: 48px auto; padding: 0 16px">
<h1>intersebd is running, but its web app is not built</h1>
<p>The proxy (<code>/v1</code>) and the API (<code>/api</code>) work. To get the web app, build it and reload:</p>
<pre style="background: #f3f4f7; padding: 10px 12px; border-radius: 6px">npm run build</pre>
<p>(<code>npm install</code> builds it too.)</p>
</body></html>`;

/**
 * Mounts the app's files from `dist` on `root`. Exported for tests that serve another folder.
 *
 * @example
 * mountWebApp(app, "/path/to/dist");
 */
export function mountWebApp(root: Hono, dist: string): void {
  // Made on first use: serveStatic complains at once about a folder that is not built yet.
  let files: ReturnType<typeof serveStatic> | undefined;
  const index = path.join(dist, "index.html");

  const handler = async (c: Context, next: () => Promise<void>) => {
    if (!isAppPath(c.req.path)) return next();
    // The server's guard sets these on every answer; repeated here so the app is safe wherever it is mounted.
    // The token of an `/a/{token}` page is in its URL: no Referer may carry it to the images it shows.
    c.header("X-Frame-Options", "DENY");
    c.header("Referrer-Policy", "no-referrer");
    c.header("X-Content-Type-Options", "nosniff");
    if (!fs.existsSync(index)) {
      c.header("Content-Security-Policy", NOT_BUILT_CSP);
      c.header("Cache-Control", "no-store");
      return c.html(NOT_BUILT, 503);
    }
    c.header("Content-Security-Policy", APP_CSP);
    // Headers set before the file is served end up on its response (serveStatic builds it at once).
    const asset = c.req.path.startsWith("/assets/");
    c.header(
      "Cache-Control",
      asset
        ? IMMUTABLE
        : c.req.path === "/" || c.req.path === "/index.html"
          ? "no-cache"
          : "public, max-age=300",
    );
    files ??= serveStatic({ root: dist });
    const served = await files(c, async () => {});
    if (served) return served;
    // A missing hashed asset is a stale page asking for an old build: a 404, not the app's HTML.
    if (asset) {
      c.header("Cache-Control", "no-store");
      return c.text("not found", 404);
    }
    const html = await fs.promises.readFile(index, "utf8");
    c.header("Cache-Control", "no-cache");
    return c.html(html);
  };
  // Hono answers HEAD with its GET route.
  root.get("*", handler);
}

/** Serves the built web app (packages/server/webapp) at `/`. */
export const webRoutes = (root: Hono): void => mountWebApp(root, WEB_DIST);
