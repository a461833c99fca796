/**
 * Reading the store's JSON columns (bodies, tags, metadata, annotations' content...). They are written as JSON by
 * this server, but a row may hold anything (written by hand, by an older version, by a bug), and one bad row must
 * not turn a list or an export into a 500: none of these readers throws. Text that does not parse reads as the
 * proxy stores a body that is not JSON, `{ "_raw": text }` (shortened).
 */

/** Characters of unparseable text kept in `_raw`. */
const RAW_CHARS = 65536;

type JsonObject = Record<string, unknown>;

/** Text that is not a JSON object, as intersebd keeps it: `{ _raw: text }`, shortened. */
export const rawOf = (text: string): JsonObject => ({
  _raw: text.length > RAW_CHARS ? `${text.slice(0, RAW_CHARS)}…` : text,
});

/** Any JSON value; null for a null (or empty) column, `{ _raw }` for text that does not parse. */
export function readJson(text: string | null | undefined): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return rawOf(text);
  }
}

/**
 * A JSON object (a request or response body, metadata, a filter); null for a null (or empty) column,
 * `{ _raw: text }` for text that does not parse or is not an object.
 */
export function readJsonObject(text: string | null | undefined): JsonObject | null {
  if (!text) return null;
  const v = readJson(text);
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as JsonObject) : rawOf(text);
}

/** A JSON array of strings (tags); the strings of it, and none for anything else. */
export function readStringArray(text: string | null | undefined): string[] {
  const v = readJson(text);
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : [];
}
