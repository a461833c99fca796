/**
 * The web app's only door to the server: a typed `fetch` wrapper for the REST API under `/api`.
 * Errors come back as `{ error: { message, field, code } }`; they are thrown as `ApiError` with that message,
 * so every page can show what the server said.
 *
 * @example
 * const page = await api.get<Page<CallView>>("/api/calls", { model: "gpt-4o-mini" });
 */

const KEY_STORAGE = "intersebd.apiKey";

/** An error answered by the server (or the network), with the server's own message when it gave one. */
export class ApiError extends Error {
  override name = "ApiError";
  readonly status: number;
  readonly code: string | null;
  readonly field: string | null;
  constructor(status: number, message: string, code: string | null = null, field: string | null = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
  /** The route does not exist on this server (an older server, or a feature not there yet). */
  get isMissingRoute(): boolean {
    return this.status === 404 && /^no route /.test(this.message);
  }
}

/** Whatever a request threw, as an `ApiError` (a thrown non-ApiError keeps its text, with status 0). */
export const asApiError = (err: unknown): ApiError =>
  err instanceof ApiError ? err : new ApiError(0, String(err));

export function getApiKey(): string | null {
  try {
    return localStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

export function setApiKey(key: string | null): void {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {}
}

/** Fired on `window` when the server asks for the API key (401 outside the token-protected `/api/a/`). */
export const NEED_KEY_EVENT = "intersebd:need-key";

type Query = Record<string, string | number | boolean | null | undefined>;

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === "") continue;
    qs.set(k, String(v));
  }
  const s = qs.toString();
  return s ? `${path}${path.includes("?") ? "&" : "?"}${s}` : path;
}

async function request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  const key = getApiKey();
  if (key) headers["x-intersebd-key"] = key;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if ((err as Error).name === "AbortError") throw err;
    throw new ApiError(0, `cannot reach the intersebd server (${(err as Error).message})`);
  }
  const text = await res.text();
  let parsed: unknown = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
  }
  if (!res.ok) {
    const e = (parsed as { error?: { message?: string; code?: string; field?: string } } | null)?.error;
    const message = e?.message ?? (text && text.length < 300 ? text : `${res.status} ${res.statusText}`);
    const err = new ApiError(res.status, message, e?.code ?? null, e?.field ?? null);
    if (res.status === 401 && !path.startsWith("/api/a/")) {
      window.dispatchEvent(new CustomEvent(NEED_KEY_EVENT, { detail: message }));
    }
    throw err;
  }
  return parsed as T;
}

export const api = {
  get: <T>(path: string, query?: Query, signal?: AbortSignal) =>
    request<T>("GET", withQuery(path, query), undefined, signal),
  post: <T>(path: string, body: unknown) => request<T>("POST", path, body),
  put: <T>(path: string, body: unknown) => request<T>("PUT", path, body),
  del: <T>(path: string) => request<T>("DELETE", path),
};

/** `encodeURIComponent` for a path segment. */
export const seg = (s: string) => encodeURIComponent(s);

/**
 * Downloads `path` as a file the way a link would, but with the API key header (a plain link cannot send it).
 * Used by export links when this browser has a key saved; without one the link downloads by itself.
 */
export async function downloadWithKey(path: string, fallbackName = "export.jsonl"): Promise<void> {
  const headers: Record<string, string> = {};
  const key = getApiKey();
  if (key) headers["x-intersebd-key"] = key;
  let res: Response;
  try {
    res = await fetch(path, { headers });
  } catch (err) {
    throw new ApiError(0, `cannot reach the intersebd server (${(err as Error).message})`);
  }
  if (!res.ok) {
    const text = await res.text();
    let message = `${res.status} ${res.statusText}`;
    try {
      message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? message;
    } catch {}
    if (res.status === 401) window.dispatchEvent(new CustomEvent(NEED_KEY_EVENT, { detail: message }));
    throw new ApiError(res.status, message);
  }
  const name = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") ?? "")?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** `GET /api/export` for a saved dataset: the JSONL rows, or with `report` the counts of rows and drops. */
export function exportUrl(dataset: string, format: string, extra?: Query): string {
  return withQuery("/api/export", { dataset, format, ...extra });
}
