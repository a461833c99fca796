import { HttpError } from "./http-error.ts";

/** A keyset position: a timestamp (ms) and the id that breaks ties. */
export interface Cursor {
  t: number;
  id: string;
}

/** An opaque cursor for newest-first paging by (timestamp, id). */
export function encodeCursor(t: number, id: string): string {
  return Buffer.from(JSON.stringify([t, id])).toString("base64url");
}

/** @throws HttpError 400 naming `cursor` when it is not one `encodeCursor` made. */
export function decodeCursor(s: string): Cursor {
  try {
    const [t, id] = JSON.parse(Buffer.from(s, "base64url").toString("utf8")) as [unknown, unknown];
    if (typeof t === "number" && Number.isFinite(t) && typeof id === "string") return { t, id };
  } catch {}
  throw new HttpError(400, "cursor is not one this server issued", { field: "cursor" });
}
