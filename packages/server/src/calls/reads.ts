/**
 * What other domains read of the `calls` table, named by what they need, so that no domain writes SQL over a
 * table it does not own. Ids are looked up in chunks (bound parameters are limited: SQLite's 32766, and long
 * IN lists plan badly); bodies are read only where a caller needs them, parsed by store/json.ts's readers.
 */
import type { CallListRow, CallRow, Store } from "../store/index.ts";
import { readJsonObject } from "../store/json.ts";
import { callListColumns } from "./queries.ts";

const CHUNK = 500;

function* chunks<T>(items: T[]): Generator<T[]> {
  for (let i = 0; i < items.length; i += CHUNK) yield items.slice(i, i + CHUNK);
}

/** The listed columns of these calls (never their bodies), by id; ids not stored are absent. */
export async function callListRowsByIds(store: Store, ids: string[]): Promise<Map<string, CallListRow>> {
  const out = new Map<string, CallListRow>();
  for (const chunk of chunks([...new Set(ids)])) {
    const rows = await store.db
      .selectFrom("calls")
      .select(callListColumns)
      .where("calls.id", "in", chunk)
      .execute();
    for (const r of rows) out.set(r.id, r);
  }
  return out;
}

/** One call by its intersebd id (not its completion id: see `findCall`), with its bodies. */
export function callById(store: Store, id: string): Promise<CallRow | undefined> {
  return store.db.selectFrom("calls").selectAll().where("id", "=", id).executeTakeFirst();
}

/** What a cost estimate needs of a call: its request and the tokens and models it was answered with. */
export interface CallForReplay {
  id: string;
  request: Record<string, unknown> | null;
  promptTokens: number | null;
  completionTokens: number | null;
  requestedModel: string | null;
  servedModel: string | null;
}

/** The requests, tokens and models of these calls, by id; ids not stored are absent. */
export async function requestsOf(store: Store, ids: string[]): Promise<Map<string, CallForReplay>> {
  const out = new Map<string, CallForReplay>();
  for (const chunk of chunks([...new Set(ids)])) {
    const rows = await store.db
      .selectFrom("calls")
      .select(["id", "request", "promptTokens", "completionTokens", "requestedModel", "servedModel"])
      .where("id", "in", chunk)
      .execute();
    for (const r of rows) out.set(r.id, { ...r, request: readJsonObject(r.request) });
  }
  return out;
}

/** The response of a call that was answered ok, and how long it took; undefined for any other call. */
export async function okResponseOf(
  store: Store,
  id: string,
): Promise<{ id: string; response: Record<string, unknown>; durationMs: number | null } | undefined> {
  const row = await store.db
    .selectFrom("calls")
    .select(["id", "response", "durationMs"])
    .where("id", "=", id)
    .where("outcome", "=", "ok")
    .where("response", "is not", null)
    .executeTakeFirst();
  const response = readJsonObject(row?.response);
  return row && response ? { id: row.id, response, durationMs: row.durationMs } : undefined;
}
