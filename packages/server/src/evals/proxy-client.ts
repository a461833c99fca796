/**
 * The proxy client of evaluations: candidate and judge calls are replayed through this server's own proxy, so
 * they are logged, priced and tagged with their run like any other call. It waits out rate limits (429) as the
 * upstream asks and retries what a moment may fix (5xx, a connection error), and nothing else.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { TransientError } from "./errors.ts";
import type { EvalDeps } from "./runs.ts";

/** What the proxy answered. */
export interface Posted {
  status: number;
  /** The JSON object answered; null when the body is not one. */
  body: Record<string, unknown> | null;
  /** The id the proxy logged the call under (`x-intersebd-call-id`). */
  callId: string | null;
  latencyMs: number;
}

export interface CallOptions {
  signal: AbortSignal;
  /** Told of every 429 and how long we wait, so the worker can hold back the run's other items too. */
  onRateLimited(waitMs: number): void;
  /** The API path under the upstream's prefix; default `/v1/chat/completions` (floor checks post `/v1/moderations`). */
  path?: string;
}

const MAX_RATE_LIMIT_WAITS = 8;
const MAX_WAIT_MS = 5 * 60_000;
/** 5xx answers and connection errors retried before giving up. */
const MAX_FAILURES = 2;

/** Milliseconds the server asks us to wait (`retry-after-ms`, `retry-after` in seconds or as a date). */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const ms = Number(headers.get("retry-after-ms"));
  if (headers.get("retry-after-ms") && Number.isFinite(ms) && ms >= 0) return ms;
  const raw = headers.get("retry-after");
  if (!raw) return undefined;
  const s = Number(raw);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const date = Date.parse(raw);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

/**
 * POSTs a Chat Completions body to this server's proxy (`upstream` picks a configured upstream, the default
 * when absent). Waits out 429s (honouring `retry-after`, else exponential back-off with jitter) and retries 5xx
 * and connection errors twice; what it then gets is returned as it is, a 429 or 5xx included.
 * @throws TransientError when the proxy cannot be reached at all; the signal's reason when aborted.
 */
export async function postThroughProxy(
  deps: Pick<EvalDeps, "baseUrl" | "config">,
  upstream: string | undefined,
  body: Record<string, unknown>,
  headers: Record<string, string>,
  opts: CallOptions,
): Promise<Posted> {
  const prefix = upstream && upstream !== "default" ? `/${upstream}` : "";
  const url = `${deps.baseUrl()}${prefix}${opts.path ?? "/v1/chat/completions"}`;
  const allHeaders: Record<string, string> = { ...headers, "content-type": "application/json" };
  if (deps.config.apiKey) allHeaders["x-intersebd-key"] = deps.config.apiKey;
  const payload = JSON.stringify(body);
  let rateLimited = 0;
  let failures = 0;
  for (;;) {
    const t0 = performance.now();
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, { method: "POST", headers: allHeaders, body: payload, signal: opts.signal });
      text = await res.text();
    } catch (err) {
      if (opts.signal.aborted) throw err;
      if (failures++ < MAX_FAILURES) {
        await sleep(250 * 2 ** failures, undefined, { signal: opts.signal, ref: false });
        continue;
      }
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new TransientError(`cannot reach this server's proxy at ${url} (${cause})`);
    }
    const latencyMs = Math.round((performance.now() - t0) * 10) / 10;
    if (res.status === 429 && rateLimited < MAX_RATE_LIMIT_WAITS) {
      const wait = Math.min(
        MAX_WAIT_MS,
        retryAfterMs(res.headers) ?? 1000 * 2 ** rateLimited * (0.5 + Math.random() / 2),
      );
      rateLimited++;
      opts.onRateLimited(wait);
      await sleep(wait, undefined, { signal: opts.signal, ref: false });
      continue;
    }
    // 501 says the upstream does not implement the path at all: no later attempt changes that.
    if (res.status >= 500 && res.status !== 501 && failures < MAX_FAILURES) {
      failures++;
      await sleep(500 * 2 ** failures, undefined, { signal: opts.signal, ref: false });
      continue;
    }
    let parsed: Record<string, unknown> | null = null;
    try {
      const v = JSON.parse(text) as unknown;
      if (v && typeof v === "object" && !Array.isArray(v)) parsed = v as Record<string, unknown>;
    } catch {}
    return { status: res.status, body: parsed, callId: res.headers.get("x-intersebd-call-id"), latencyMs };
  }
}

/** Whether retries are spent on a failure a later attempt may get past (rate limit, server error). */
export const stillFailing = (p: Posted): boolean => p.status === 429 || p.status >= 500;

/** An answer that is not a 200 as a short line: `HTTP 400: <the upstream's message>`. */
export function errorMessage(p: Posted): string {
  const e = (p.body?.error as { message?: string } | undefined)?.message;
  return `HTTP ${p.status}${e ? `: ${e}` : ""}`;
}
