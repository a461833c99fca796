import { Link } from "react-router";
import { seg } from "../api.ts";
import { DataTable, numColumn, PagedStates, PageHead } from "../components/ui.tsx";
import { fmtDateTime, fmtInt, fmtMs } from "../format.ts";
import { useCursorPages } from "../hooks.ts";
import type { SessionSummary } from "../types.ts";

export default function SessionsPage() {
  const pages = useCursorPages<SessionSummary>("/api/sessions");
  return (
    <div className="page wide">
      <PageHead title="Sessions" />
      <PagedStates
        pages={pages}
        loadingWhat="Loading sessions"
        empty={
          <>
            <h2>No sessions yet</h2>
            <p>
              Calls are grouped into a session when your service sends the header{" "}
              <code>x-intersebd-session-id: &lt;conversation id&gt;</code> with them, for example{" "}
              <code>{'new OpenAI({ baseURL, defaultHeaders: { "x-intersebd-session-id": chat.id } })'}</code>.
            </p>
          </>
        }
      >
        <DataTable
          className="sessions"
          testId="sessions-table"
          columns={["Session", numColumn("Calls"), "First", "Last", numColumn("Span"), "Models", "Users"]}
        >
          {pages.rows.map((s) => (
            <tr key={s.sessionId} data-session-id={s.sessionId}>
              <td>
                <Link to={`/sessions/${seg(s.sessionId)}`}>{s.sessionId}</Link>
              </td>
              <td className="num">{fmtInt(s.calls)}</td>
              <td className="nowrap">{fmtDateTime(s.firstAt)}</td>
              <td className="nowrap">{fmtDateTime(s.lastAt)}</td>
              <td className="num nowrap">{fmtMs(Date.parse(s.lastAt) - Date.parse(s.firstAt))}</td>
              <td>{(s.models ?? []).join(", ")}</td>
              <td>
                {(s.userIds ?? []).map((u) => (
                  <Link key={u} to={`/?userId=${seg(u)}`} className="tag">
                    {u}
                  </Link>
                ))}
              </td>
            </tr>
          ))}
        </DataTable>
      </PagedStates>
    </div>
  );
}
