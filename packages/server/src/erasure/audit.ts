/** Reading the audit log (`GET /api/audit`), newest first, paged by (time, id). */
import { HttpError } from "../http/error.ts";
import type { Store } from "../store/index.ts";
import { isoTime } from "../util/time.ts";
import type { AuditEntry } from "./schemas.ts";

function countsOf(text: string): Record<string, number> {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== "object" || v === null) return {};
    return Object.fromEntries(
      Object.entries(v).filter((e): e is [string, number] => typeof e[1] === "number"),
    );
  } catch {
    return {};
  }
}

/** A page of the log; `cursor` is the previous page's `nextCursor` (`<at>:<id>`). */
export async function listAudit(
  store: Store,
  q: { limit: number; cursor?: string },
): Promise<{ entries: AuditEntry[]; nextCursor: string | null }> {
  let query = store.db
    .selectFrom("auditLog")
    .selectAll()
    .orderBy("at", "desc")
    .orderBy("id", "desc")
    .limit(q.limit + 1);
  const m = q.cursor ? /^(\d+):(.+)$/.exec(q.cursor) : null;
  if (q.cursor !== undefined && !m)
    throw new HttpError(400, "cursor: expected the nextCursor of a previous page", { field: "cursor" });
  if (m) {
    const at = Number(m[1]);
    const id = m[2] as string;
    query = query.where((eb) => eb.or([eb("at", "<", at), eb.and([eb("at", "=", at), eb("id", "<", id)])]));
  }
  const rows = await query.execute();
  const page = rows.slice(0, q.limit);
  const last = page.at(-1);
  return {
    entries: page.map((r) => ({
      id: r.id,
      at: isoTime(r.at),
      actor: r.actor,
      action: r.action,
      selectorKind: r.selectorKind,
      selectorHash: r.selectorHash,
      counts: countsOf(r.counts),
    })),
    nextCursor: rows.length > q.limit && last ? `${Number(last.at)}:${last.id}` : null,
  };
}
