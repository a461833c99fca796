import { useEffect, useState } from "react";
import { Link } from "react-router";
import { ApiError, api, seg } from "../api.ts";
import { ErrorBox, Loading } from "../components/ui.tsx";
import { fmtDateTime, fmtInt, fmtMs } from "../format.ts";
import type { Page, SessionSummary } from "../types.ts";

export default function SessionsPage() {
  const [rows, setRows] = useState<SessionSummary[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<ApiError>();

  const load = (cursor?: string) => {
    setLoading(true);
    api.get<Page<SessionSummary>>("/api/sessions", { cursor }).then(
      (p) => {
        setRows((r) => (cursor ? [...r, ...p.data] : p.data));
        setNext(p.nextCursor);
        setLoading(false);
      },
      (err: unknown) => {
        setError(err instanceof ApiError ? err : new ApiError(0, String(err)));
        setLoading(false);
      },
    );
  };
  // biome-ignore lint/correctness/useExhaustiveDependencies: load once
  useEffect(() => load(), []);

  return (
    <div className="page wide">
      <header className="page-head">
        <h1>Sessions</h1>
      </header>
      {error ? <ErrorBox error={error} /> : null}
      {!loading && !error && rows.length === 0 ? (
        <div className="empty">
          <h2>No sessions yet</h2>
          <p>
            Calls are grouped into a session when your service sends the header{" "}
            <code>x-intersebd-session-id: &lt;conversation id&gt;</code> with them, for example{" "}
            <code>{'new OpenAI({ baseURL, defaultHeaders: { "x-intersebd-session-id": chat.id } })'}</code>.
          </p>
        </div>
      ) : null}
      {rows.length > 0 ? (
        <div className="table-wrap">
          <table className="sessions" data-testid="sessions-table">
            <thead>
              <tr>
                <th>Session</th>
                <th className="num">Calls</th>
                <th>First</th>
                <th>Last</th>
                <th className="num">Span</th>
                <th>Models</th>
                <th>Users</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((s) => (
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
            </tbody>
          </table>
        </div>
      ) : null}
      {loading ? <Loading what="Loading sessions" /> : null}
      {next && !loading ? (
        <div className="list-foot">
          <button type="button" onClick={() => load(next)}>
            Load more
          </button>
        </div>
      ) : null}
    </div>
  );
}
