import { HttpError } from "../http/error.ts";
import { hasNul, MAX_TIME_MS, MIN_TIME_MS } from "./bounds.ts";

/** A keyset position: a timestamp (ms) and the id that breaks ties. */
export interface Cursor {
  t: number;
  id: string;
}

/** Longest id a cursor carries: ids and session ids are at most 500 characters at the edge. */
const MAX_CURSOR_ID = 1000;

/** An opaque cursor for newest-first paging by (timestamp, id). */
export function encodeCursor(t: number, id: string): string {
  return Buffer.from(JSON.stringify([t, id])).toString("base64url");
}

/**
 * @throws HttpError 400 naming `cursor` when it is not one `encodeCursor` made. What it decodes is bounded
 * like the values it stands for (a time within `MIN_TIME_MS`..`MAX_TIME_MS`, an id without NUL): the client
 * can write any cursor, and an out-of-range time or a NUL reached PostgreSQL as a 500.
 */
export function decodeCursor(s: string): Cursor {
  try {
    const [t, id] = JSON.parse(Buffer.from(s, "base64url").toString("utf8")) as [unknown, unknown];
    if (
      typeof t === "number" &&
      Number.isInteger(t) &&
      t >= MIN_TIME_MS &&
      t <= MAX_TIME_MS &&
      typeof id === "string" &&
      id.length <= MAX_CURSOR_ID &&
      !hasNul(id)
    )
      return { t, id };
  } catch {}
  throw new HttpError(400, "cursor is not one this server issued", { field: "cursor" });
}
