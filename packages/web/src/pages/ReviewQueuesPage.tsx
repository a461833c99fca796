import type { ReviewQueueSummary, ReviewQueueView } from "@intersebd/server/api-types";
import { Link, useParams } from "react-router";
import { seg } from "../api.ts";
import { DataTable, ErrorBox, ListStates, Loading, PageHead } from "../components/ui.tsx";
import { fmtDateTime, fmtNum } from "../format.ts";
import { useApi } from "../hooks.ts";

type Estimate = ReviewQueueView["agreement"][number]["alpha"];

/** An agreement with its interval, or why there is none. */
function EstimateCell({ e }: { e: Estimate | null }) {
  if (!e) return <span className="muted">—</span>;
  if (e.value === null)
    return (
      <span className="muted" title="too few items with two answers, or one answer throughout">
        n/a
      </span>
    );
  return (
    <span>
      <strong>{fmtNum(e.value, 3)}</strong>
      {e.interval ? (
        <span className="muted small">
          {" "}
          [{fmtNum(e.interval.lo, 2)}, {fmtNum(e.interval.hi, 2)}]
        </span>
      ) : null}
      <span className="muted small"> on {e.items}</span>
    </span>
  );
}

/** `/review-queues`: queues of items given to several reviewers each. */
export function ReviewQueuesList() {
  const list = useApi<{ data: ReviewQueueSummary[] }>("/api/review-queues");
  const rows = list.data?.data ?? [];
  return (
    <div className="page wide">
      <PageHead
        title="Review queues"
        explanation="Items given to several people each, through their inboxes; their progress and how far they agree."
      />
      <ListStates
        list={list}
        count={rows.length}
        loadingWhat="Loading queues"
        emptyTestId="review-queues-empty"
        empty={
          <>
            <h2>No review queues yet</h2>
            <p>
              <code>POST /api/review-queues</code> with{" "}
              <code>{"{ name, source, reviewers, perItem, rubric }"}</code>: a dataset, call ids or a sample,
              each item to <code>perItem</code> different reviewers.
            </p>
          </>
        }
      >
        <DataTable
          testId="review-queues-table"
          columns={["Name", "Rubric", "Reviewers", "Items", "Answered", "Created"]}
        >
          {rows.map((q) => (
            <tr key={q.id} data-queue={q.id}>
              <td>
                <Link to={`/review-queues/${seg(q.id)}`}>{q.name}</Link>
              </td>
              <td>{q.rubric}</td>
              <td>
                {q.reviewers.join(", ")} <span className="muted small">({q.perItem} per item)</span>
              </td>
              <td>{q.itemCount}</td>
              <td>
                {q.done} / {q.assigned}
              </td>
              <td className="nowrap">{fmtDateTime(q.createdAt)}</td>
            </tr>
          ))}
        </DataTable>
      </ListStates>
    </div>
  );
}

/** `/review-queues/:id`: progress per reviewer, agreement per field, and the items people disagree on. */
export default function ReviewQueuePage() {
  const { id } = useParams();
  const { data: q, error, loading } = useApi<ReviewQueueView>(id ? `/api/review-queues/${seg(id)}` : null);
  if (!id) return <ReviewQueuesList />;
  return (
    <div className="page wide">
      <p className="small">
        <Link to="/review-queues">← Review queues</Link>
      </p>
      {error ? <ErrorBox error={error} /> : null}
      {loading && !q ? <Loading what="Loading the queue" /> : null}
      {q ? (
        <>
          <PageHead
            title={q.name}
            explanation={
              <>
                {q.itemCount} items, {q.perItem} reviewers each, rubric {q.rubric}; {q.done} of {q.assigned}{" "}
                answered.
              </>
            }
          />
          <h2>Progress</h2>
          <DataTable testId="queue-progress" columns={["Reviewer", "Answered", "Open", "Expired or revoked"]}>
            {q.progress.map((p) => (
              <tr key={p.reviewer} data-reviewer={p.reviewer}>
                <td>{p.reviewer}</td>
                <td>
                  {p.done} / {p.assigned}
                </td>
                <td>{p.open}</td>
                <td>{p.lapsed}</td>
              </tr>
            ))}
          </DataTable>
          <h2>Agreement</h2>
          <p className="muted small">
            Krippendorff's alpha over the items with two answers or more (1 is perfect agreement, 0 what
            chance gives); Cohen's kappa when the queue has two reviewers. In brackets, a 95% bootstrap
            interval over items.
          </p>
          <DataTable
            testId="queue-agreement"
            columns={["Field", "Level", "Alpha", "Kappa", "Items in disagreement"]}
          >
            {q.agreement.map((a) => (
              <tr key={a.field} data-field={a.field}>
                <td>{a.field}</td>
                <td>{a.level}</td>
                <td>
                  <EstimateCell e={a.alpha} />
                </td>
                <td>
                  <EstimateCell e={a.kappa} />
                </td>
                <td>{a.disagreements}</td>
              </tr>
            ))}
          </DataTable>
          <h2>Disagreements</h2>
          {q.disagreements.length === 0 ? (
            <p className="muted">No item has answers that differ.</p>
          ) : (
            <ul data-testid="queue-disagreements">
              {q.disagreements.map((d) => (
                <li key={d.position} data-call={d.callId}>
                  <Link to={`/calls/${seg(d.callId)}`}>item {d.position + 1}</Link>:{" "}
                  {d.fields.map((f) => (
                    <span key={f.field}>
                      {f.field} (
                      {Object.entries(f.answers)
                        .map(([r, v]) => `${r}: ${JSON.stringify(v)}`)
                        .join(", ")}
                      ){" "}
                    </span>
                  ))}
                </li>
              ))}
            </ul>
          )}
        </>
      ) : null}
    </div>
  );
}
