/** Test support for the SDK suites: a `fetch` that counts and records what the SDK sends. */
import type { IntersebdError } from "intersebd";

export interface SeenRequest {
  path: string;
  headers: Record<string, string>;
  /** The JSON array the SDK sent. */
  body: Array<Record<string, unknown>>;
}

export interface CountingFetch {
  fetch: typeof globalThis.fetch;
  requests: SeenRequest[];
  /** Attempts that ended in a network error (no HTTP answer). */
  networkErrors: number;
  /** HTTP statuses answered, in order. */
  statuses: number[];
}

/**
 * Wraps the real `fetch`: records each request, then sends it to the real server. `inject` may answer
 * instead (to simulate a 429 or a 503) by returning a Response for the n-th request (0-based).
 */
export function countingFetch(inject?: (n: number, path: string) => Response | undefined): CountingFetch {
  const out: CountingFetch = {
    requests: [],
    networkErrors: 0,
    statuses: [],
    fetch: async (input, init) => {
      const url = new URL(String(input));
      const headers = Object.fromEntries(new Headers(init?.headers).entries());
      const n = out.requests.length;
      out.requests.push({ path: url.pathname, headers, body: JSON.parse(String(init?.body)) });
      const injected = inject?.(n, url.pathname);
      if (injected) {
        out.statuses.push(injected.status);
        return injected;
      }
      try {
        const res = await globalThis.fetch(input, init);
        out.statuses.push(res.status);
        return res;
      } catch (err) {
        out.networkErrors++;
        throw err;
      }
    },
  };
  return out;
}

/** Collects what reaches `onError`. */
export function errorSink(): { onError: (e: IntersebdError) => void; errors: IntersebdError[] } {
  const errors: IntersebdError[] = [];
  return { errors, onError: (e) => errors.push(e) };
}

/** A unique tag per test, so tests sharing a server never see each other's rows. */
export function uniqueTag(what: string): string {
  return `${what}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in assertions
export type Body = Record<string, any>;
