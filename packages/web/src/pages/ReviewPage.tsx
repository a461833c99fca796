import { Link } from "react-router";
import { seg } from "../api.ts";
import { ErrorBox, Loading, OutcomeBadge, PageHead } from "../components/ui.tsx";
import { fmtCost, fmtMs, fmtTime, modelOf, previewOut } from "../format.ts";
import { useApi } from "../hooks.ts";
import type { ReviewCluster, ReviewItem } from "../types.ts";

/** What a cluster's calls share, in words: only the parts that say something (no "no flag"). */
function clusterLabel({ key }: ReviewCluster): string {
  const parts = [`${key.model ?? "unknown model"} on ${key.upstream}`, key.outcome];
  if (key.checkFailed) parts.push(`failed ${key.checkFailed}`);
  if (key.flag) parts.push(`flagged ${key.flag}`);
  if (key.rewardBand !== "none") parts.push(`reward ${key.rewardBand}`);
  if (key.experiment) parts.push(`${key.experiment}${key.variant ? `/${key.variant}` : ""}`);
  return parts.join(" · ");
}

function ReviewCard({ call, reasons }: ReviewItem) {
  return (
    <li className="card review-item" data-call-id={call.id}>
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
  );
}

export default function ReviewPage() {
  const { data, error, loading, reload } = useApi<{ data: ReviewItem[]; clusters?: ReviewCluster[] }>(
    "/api/review-queue?limit=50",
  );
  // A repeated cluster is stronger evidence than a one-off: those come first, the single calls stay in the list.
  const repeated = (data?.clusters ?? []).filter((c) => c.count > 1);
  return (
    <div className="page wide">
      <PageHead
        title="Review queue"
        explanation={
          <>
            Calls nobody has judged yet that are worth a look: upstream errors, slow calls, outputs that
            failed their JSON schema, low or disagreeing rewards, and a random sample; and calls whose
            reviewers disagree in a <Link to="/review-queues">review queue</Link>, until someone settles them.
          </>
        }
        actions={
          <button type="button" onClick={reload}>
            Refresh
          </button>
        }
      />
      {error ? <ErrorBox error={error} /> : null}
      {loading && !data ? <Loading what="Choosing calls to review" /> : null}
      {data && data.data.length === 0 ? (
        <div className="empty">
          <h2>Nothing to review</h2>
          <p>Every call has been judged, or there are no calls yet.</p>
        </div>
      ) : null}
      {repeated.length > 0 ? (
        <section data-testid="review-clusters">
          <h2>Repeated problems</h2>
          <p className="muted small">
            Calls that share their model, upstream, outcome, failed checks, flags, reward band and experiment
            variant; the largest and newest first. Open one to see its newest calls.
          </p>
          {repeated.map((c) => (
            <details key={c.id} className="card review-cluster" data-cluster-count={c.count}>
              <summary>
                <strong>{c.count} calls</strong> · {clusterLabel(c)}{" "}
                <span className="muted small">newest {fmtTime(c.newestAt)}</span>
              </summary>
              <ul className="review">
                {c.items.map((it) => (
                  <ReviewCard key={it.call.id} {...it} />
                ))}
              </ul>
            </details>
          ))}
          <h2>Each call</h2>
        </section>
      ) : null}
      {data && data.data.length > 0 ? (
        <ul className="review" data-testid="review-list">
          {data.data.map((it) => (
            <ReviewCard key={it.call.id} {...it} />
          ))}
        </ul>
      ) : null}
    </div>
  );
}
