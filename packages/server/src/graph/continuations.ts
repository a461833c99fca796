/**
 * A Responses call that names a `previous_response_id` continues the call that answered it: as the call is
 * stored, the insert hook here links the previous response's id to this call (so a reward on the last turn
 * resolves to the turns before it, as a link sent to `POST /api/links` would), and puts the call in the previous
 * call's session when the proxy could not.
 *
 * The proxy follows chains in memory (proxy/responses.ts); after a restart, on another instance, or for calls
 * ingested by the SDKs, it does not know the previous call's session and falls back to the previous response's
 * id (or to none). The store does know it: a call whose session is that fallback, none, or the id of a response
 * already in the previous call's session (a chain continued past a restart, whose memory restarted at the wrong
 * turn) takes the previous call's session. A session the client named is kept.
 */
import type { Transaction } from "kysely";
import type { InsertHook } from "../calls/index.ts";
import type { Database, NewCallRow } from "../store/index.ts";
import { writeLinks } from "./links.ts";

type Trx = Transaction<Database>;

/** What a link made from a `previous_response_id` says in its metadata. */
export const CONTINUATION_LINK = { via: "previous_response_id" } as const;

const MAX_ID = 200;

/** The `previous_response_id` of a stored Responses request, read without parsing requests that lack one. */
export function previousResponseIdOf(
  row: Pick<NewCallRow, "protocol" | "originalRequest">,
): string | undefined {
  const text = row.originalRequest;
  if (row.protocol !== "responses" || !text || !text.includes('"previous_response_id"')) return undefined;
  try {
    const body: unknown = JSON.parse(text);
    const id =
      body && typeof body === "object" ? (body as Record<string, unknown>).previous_response_id : undefined;
    return typeof id === "string" && id.length > 0 && id.length <= MAX_ID ? id : undefined;
  } catch {
    return undefined;
  }
}

/** The newest call answering to `tag` (its completion id, or one of its tags), with its session. */
async function callNamed(
  trx: Trx,
  tag: string,
): Promise<{ id: string; sessionId: string | null } | undefined> {
  return trx
    .selectFrom("calls")
    .select(["calls.id", "calls.sessionId"])
    .where((eb) =>
      eb.or([
        eb("calls.completionId", "=", tag),
        eb(
          "calls.id",
          "in",
          eb.selectFrom("callTags").select("callTags.callId").where("callTags.tag", "=", tag),
        ),
      ]),
    )
    .orderBy("calls.startedAt", "desc")
    .limit(1)
    .executeTakeFirst();
}

/** Whether `session` is what the proxy falls back to rather than a session the client named. */
async function isFallbackSession(
  trx: Trx,
  session: string | null,
  previous: string,
  previousSession: string,
): Promise<boolean> {
  if (session === null || session === previous) return true;
  if (session === previousSession) return false;
  const named = await callNamed(trx, session);
  return named?.sessionId === previousSession;
}

/**
 * The insert hook (calls/insert.ts) that links each stored Responses call to the one it continues and mends its
 * session. Chained after the graph's resolution hook, which holds the write lock this writes links under.
 */
export function continuationsOnInsert(maxDepth: number): InsertHook {
  return {
    begin: async () => {},
    afterInsert: async (trx, _callIds, rows) => {
      // One per pair: PostgreSQL refuses to upsert the same row twice in one statement.
      const links = new Map<
        string,
        { upstreamTag: string; downstreamTag: string; metadata: string; createdAt: number }
      >();
      const now = Date.now();
      // In order: a chain stored in one batch mends each turn from the one before it, already mended.
      for (const row of rows) {
        const previous = previousResponseIdOf(row);
        if (!previous) continue;
        const downstream = row.completionId ?? row.id;
        if (downstream !== previous) {
          links.set(JSON.stringify([previous, downstream]), {
            upstreamTag: previous,
            downstreamTag: downstream,
            metadata: JSON.stringify(CONTINUATION_LINK),
            createdAt: now,
          });
        }
        const before = await callNamed(trx, previous);
        if (!before?.sessionId || before.sessionId === row.sessionId) continue;
        if (!(await isFallbackSession(trx, row.sessionId ?? null, previous, before.sessionId))) continue;
        await trx
          .updateTable("calls")
          .set({ sessionId: before.sessionId })
          .where("id", "=", row.id)
          .execute();
        // The hooks after this one (live evaluation) read the rows: they see the session as stored.
        row.sessionId = before.sessionId;
      }
      if (links.size > 0) await writeLinks(trx, [...links.values()], maxDepth);
    },
  };
}
