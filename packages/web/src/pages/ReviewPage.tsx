import { Link } from "react-router";
import { seg } from "../api.ts";
import { ErrorBox, Loading, OutcomeBadge } from "../components/ui.tsx";
import { fmtCost, fmtMs, fmtTime, modelOf, previewOut } from "../format.ts";
import { useApi } from "../hooks.ts";
import type { ReviewItem } from "../types.ts";

export default function ReviewPage() {
  const { data, error, loading, reload } = useApi<{ data: ReviewItem[] }>("/api/review-queue?limit=50");
  return (
    <div className="page wide">
      <header className="page-head">
        <div>
          <h1>Review queue</h1>
          <p className="muted small">
            Calls nobody has judged yet that are worth a look: upstream errors, slow calls, outputs that
            failed their JSON schema, low or disagreeing rewards, and a random sample; and calls whose
            reviewers disagree in a <Link to="/review-queues">review queue</Link>, until someone settles them.
          </p>
        </div>
        <button type="button" onClick={reload}>
          Refresh
        </button>
      </header>
      {error ? <ErrorBox error={error} /> : null}
      {loading && !data ? <Loading what="Choosing calls to review" /> : null}
      {data && data.data.length === 0 ? (
        <div className="empty">
          <h2>Nothing to review</h2>
          <p>Every call has been judged, or there are no calls yet.</p>
        </div>
      ) : null}
      {data && data.data.length > 0 ? (
        <ul className="review" data-testid="review-list">
          {data.data.map(({ call, reasons }) => (
            <li key={call.id} className="card review-item" data-call-id={call.id}>
              <div className="review-reasons">
                {reasons.map((r) => (
                  <span key={r} className="badge reason">
                    {r}
                  </span>
                ))}
              </div>
              <Link to={`/calls/${seg(call.id)}`} className="review-link">
                <span className="nowrap">{fmtTime(call.startedAt)}</span> · <strong>{modelOf(call)}</strong>{" "}
                <OutcomeBadge outcome={call.outcome} status={call.status} />{" "}
                <span className="muted small">
                  {fmtMs(call.durationMs)} · {fmtCost(call.costUsd)}
                </span>
                <div className="preview">
                  {call.preview?.input ?? "—"} → {previewOut(call.preview?.output) ?? "—"}
                </div>
              </Link>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
