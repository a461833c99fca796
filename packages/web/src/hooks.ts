import { useCallback, useEffect, useRef, useState } from "react";
import { type ApiError, api, asApiError } from "./api.ts";
import type { Page } from "./types.ts";

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload(): void;
  setData(v: T): void;
}

/** Loads `GET url` (null: nothing to load) and reloads when `url` changes; a newer load cancels an older one. */
export function useApi<T>(url: string | null): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<ApiError>();
  const [loading, setLoading] = useState(url !== null);
  const [nonce, setNonce] = useState(0);
  // biome-ignore lint/correctness/useExhaustiveDependencies: nonce forces a reload
  useEffect(() => {
    if (url === null) {
      setLoading(false);
      return;
    }
    const ctl = new AbortController();
    setLoading(true);
    setError(undefined);
    api.get<T>(url, undefined, ctl.signal).then(
      (v) => {
        if (ctl.signal.aborted) return;
        setData(v);
        setLoading(false);
      },
      (err: unknown) => {
        if (ctl.signal.aborted) return;
        setError(asApiError(err));
        setLoading(false);
      },
    );
    return () => ctl.abort();
  }, [url, nonce]);
  const reload = useCallback(() => setNonce((n) => n + 1), []);
  return { data, error, loading, reload, setData };
}

export interface CursorPages<T> {
  /** The rows of every page read so far. */
  rows: T[];
  error: ApiError | undefined;
  loading: boolean;
  /** Reads the next page; null while loading or when there is none. */
  more: (() => void) | null;
}

/**
 * Reads `GET url` a page at a time (`{ data, nextCursor }`), starting over when `url` or `query` changes; an
 * answer to a request made before the change is dropped, so a slow old page cannot land in the new list.
 */
export function useCursorPages<T>(
  url: string,
  query: Record<string, string | undefined> = {},
): CursorPages<T> {
  const [rows, setRows] = useState<T[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<ApiError>();
  const generation = useRef(0);
  // The query by value: a caller's fresh object each render must not start the list over.
  const key = JSON.stringify(query);
  const load = useCallback(
    (cursor?: string) => {
      if (!cursor) generation.current += 1;
      const mine = generation.current;
      setLoading(true);
      setError(undefined);
      api.get<Page<T>>(url, { ...(JSON.parse(key) as Record<string, string | undefined>), cursor }).then(
        (p) => {
          if (mine !== generation.current) return;
          setRows((r) => (cursor ? [...r, ...p.data] : p.data));
          setNext(p.nextCursor);
          setLoading(false);
        },
        (err: unknown) => {
          if (mine !== generation.current) return;
          setError(asApiError(err));
          setLoading(false);
        },
      );
    },
    [url, key],
  );
  useEffect(() => load(), [load]);
  return { rows, error, loading, more: next && !loading ? () => load(next) : null };
}

/** A string kept in localStorage under `key`. */
export function useStoredString(key: string, initial = ""): [string, (v: string) => void] {
  const [value, setValue] = useState<string>(() => {
    try {
      return localStorage.getItem(key) ?? initial;
    } catch {
      return initial;
    }
  });
  const set = useCallback(
    (v: string) => {
      setValue(v);
      try {
        if (v) localStorage.setItem(key, v);
        else localStorage.removeItem(key);
      } catch {}
      window.dispatchEvent(new CustomEvent("intersebd:storage", { detail: key }));
    },
    [key],
  );
  useEffect(() => {
    const sync = () => {
      try {
        setValue(localStorage.getItem(key) ?? initial);
      } catch {}
    };
    window.addEventListener("intersebd:storage", sync);
    window.addEventListener("storage", sync);
    return () => {
      window.removeEventListener("intersebd:storage", sync);
      window.removeEventListener("storage", sync);
    };
  }, [key, initial]);
  return [value, set];
}

/** Calls `handler` on keydown unless the user is typing in a field (or a modifier is held). */
export function useKeys(handler: (e: KeyboardEvent) => void, enabled = true): void {
  useEffect(() => {
    if (!enabled) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
      handler(e);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [handler, enabled]);
}

/** True when the event's target is a text field, where plain keys are typing, not shortcuts. */
export function isTyping(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  if (!t) return false;
  const tag = t.tagName;
  if (tag === "TEXTAREA" || t.isContentEditable) return true;
  if (tag === "SELECT") return true;
  if (tag === "INPUT") {
    const type = (t as HTMLInputElement).type;
    return !["checkbox", "radio", "button", "submit", "range"].includes(type);
  }
  return false;
}

export const RECIPIENT_KEY = "intersebd.recipient";

/** Fired on `window` when an inbox item changed (answered), so the nav's count refreshes. */
export const INBOX_CHANGED_EVENT = "intersebd:inbox-changed";
