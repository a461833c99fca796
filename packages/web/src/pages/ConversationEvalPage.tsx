import { useEffect, useState } from "react";
import { Link, useParams } from "react-router";
import { type ApiError, api, asApiError, seg } from "../api.ts";
import { ErrorBox, Loading, PageHead } from "../components/ui.tsx";
import type { ConversationEvalItem, ConversationEvalReport } from "../types.ts";

type Report = ConversationEvalReport;
type Item = ConversationEvalItem;

const pct = (x: number) => `${Math.round(x * 100)}%`;
const ctxName = (l: number | null) => (l === null ? "full slice" : `last ${l}`);

/** A conversation evaluation's report: win/tie/loss per criterion and context length, the ranking, the items. */
export default function ConversationEvalPage() {
  const { id = "" } = useParams();
  const [report, setReport] = useState<Report>();
  const [items, setItems] = useState<Item[]>();
  const [error, setError] = useState<ApiError>();
  useEffect(() => {
    let live = true;
    const load = () =>
      Promise.all([
        api.get<Report>(`/api/conversations/evals/${seg(id)}`),
        api.get<{ data: Item[] }>(`/api/conversations/evals/${seg(id)}/items`, { limit: 200 }),
      ]).then(
        ([r, i]) => {
          if (!live) return;
          setReport(r);
          setItems(i.data);
          if (r.status === "running") setTimeout(load, 2000);
        },
        (err: unknown) => live && setError(asApiError(err)),
      );
    void load();
    return () => {
      live = false;
    };
  }, [id]);
  if (error) return <ErrorBox error={error} />;
  if (!report) return <Loading what="Loading the report" />;
  const criteria = report.definition.criteria.map((c) => c.name);
  return (
    <div className="page wide" data-testid="conversation-eval">
      <PageHead
        title={<>Conversation evaluation {report.id}</>}
        actions={
          <span className="muted">
            {report.status} · {report.progress.done}/{report.progress.total} items
            {report.progress.failed ? ` · ${report.progress.failed} failed` : ""}
          </span>
        }
      />
      <p className="card muted small" data-testid="caveat">
        {report.caveat}
      </p>
      {report.results.map((r) => (
        <section className="card" key={r.source} data-testid={`results-${r.source}`}>
          <h2>
            {r.source === "judge" ? "Judge" : "People"} · {r.comparisons} comparisons
          </h2>
          <table>
            <thead>
              <tr>
                <th>Candidate</th>
                <th>Context</th>
                {criteria.map((c) => (
                  <th key={c}>{c} (win / tie / loss, win rate 95%)</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {r.candidates.flatMap((cand) =>
                report.definition.contextLengths.map((len, li) => (
                  <tr
                    key={`${cand.candidate}-${String(len)}`}
                    data-candidate={cand.candidate}
                    data-context={len === null ? "full" : String(len)}
                  >
                    <td>{cand.candidate}</td>
                    <td>{ctxName(len)}</td>
                    {cand.criteria.map((crit) => {
                      const cell = crit.byContext[li];
                      return (
                        <td key={crit.criterion} data-criterion={crit.criterion}>
                          {cell && cell.n > 0
                            ? `${cell.wins} / ${cell.ties} / ${cell.losses}${cell.winRate ? ` · ${pct(cell.winRate[0])}–${pct(cell.winRate[1])}` : ""}`
                            : "—"}
                        </td>
                      );
                    })}
                  </tr>
                )),
              )}
            </tbody>
          </table>
          {r.ranking ? (
            <>
              <h3>Ranking (Bradley–Terry, the original as reference)</h3>
              {r.ranking.map((rk) => (
                <p key={rk.criterion}>
                  <strong>{rk.criterion}:</strong>{" "}
                  {rk.ranked
                    ? rk.ranked
                        .map(
                          (x, i) =>
                            `${i + 1}. ${x.name} (preferred to the original ${pct(x.pBeatsOriginal)}, ${pct(x.pInterval[0])}–${pct(x.pInterval[1])})`,
                        )
                        .join("  ")
                    : "no comparisons yet"}
                </p>
              ))}
            </>
          ) : null}
        </section>
      ))}
      <section className="card">
        <h2>Items</h2>
        <table>
          <thead>
            <tr>
              <th>#</th>
              <th>Session</th>
              <th>Turn</th>
              <th>Candidate</th>
              <th>Context</th>
              <th>Status</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {(items ?? []).map((it) => (
              <tr key={it.index} data-item={it.index}>
                <td>{it.index}</td>
                <td>
                  <Link to={`/sessions/${seg(it.sessionId)}`}>{it.sessionId}</Link>
                </td>
                <td>{it.targetIndex}</td>
                <td>{it.candidate}</td>
                <td>{ctxName(it.contextLength)}</td>
                <td>{it.status}</td>
                <td>
                  {it.regenCallId && it.originalCallId ? (
                    <Link
                      to={`/compare?a=${seg(it.regenCallId)}&b=${seg(it.originalCallId)}&conv=${seg(report.id)}&item=${it.index}&criteria=${encodeURIComponent(criteria.join("|"))}`}
                    >
                      Compare
                    </Link>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}
