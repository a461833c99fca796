/**
 * The one gate between a URL found in call data (a message's `image_url`, anything a model or a client wrote)
 * and an `href` or `src`. Only web URLs (`http:`, `https:`) and inline images (`data:image/...`) pass; anything
 * else (`javascript:`, `vbscript:`, `data:text/html`, `file:`, relative paths) comes back null, for the caller to
 * show as inert text. React 19 swaps a `javascript:` href for one that throws, but lets `vbscript:`, `data:text/html`
 * or `file:` through; this does not rely on it. No DOM here: unit-tested under Node.
 *
 * @example
 * const href = safeUrl(part.image_url?.url);
 * href ? <a href={href}>…</a> : <code>{String(part.image_url?.url)}</code>
 */
export function safeUrl(raw: unknown): string | null {
  if (typeof raw !== "string" || raw === "") return null;
  let url: URL;
  try {
    // The WHATWG parser, as the browser would read the attribute: it drops the tabs and newlines hidden in
    // `java\tscript:`, trims control characters, and lower-cases the scheme.
    url = new URL(raw);
  } catch {
    return null;
  }
  if (url.protocol === "http:" || url.protocol === "https:") return url.href;
  if (url.protocol === "data:" && /^image\/[a-z0-9.+-]+[;,]/i.test(url.pathname)) return url.href;
  return null;
}

/** Whether a URL that `safeUrl` let through is an inline image (shown as one) rather than a link. */
export function isInlineImage(safe: string): boolean {
  return safe.startsWith("data:");
}
