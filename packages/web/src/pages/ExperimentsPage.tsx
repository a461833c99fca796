import { Link } from "react-router";
import { seg } from "../api.ts";
import { ExperimentStatusBadge, sharesOf } from "../components/ExperimentBits.tsx";
import { DataTable, ListStates, PageHead } from "../components/ui.tsx";
import { fmtDateTime, fmtPct } from "../format.ts";
import { useApi } from "../hooks.ts";
import type { ExperimentList } from "../types.ts";

/** `/experiments`: every experiment, newest first, with its split and status. */
export default function ExperimentsPage() {
  const list = useApi<ExperimentList>("/api/experiments");
  const rows = list.data?.experiments ?? [];
  return (
    <div className="page wide">
      <PageHead
        title="Experiments"
        explanation="A/B splits and shadow runs: variants of a model, prompt or parameters, judged while they run, promoted with a person's approval."
      />
      <ListStates
        list={list}
        count={rows.length}
        loadingWhat="Loading experiments"
        emptyTestId="experiments-empty"
        empty={
          <>
            <h2>No experiments yet</h2>
            <p>
              An experiment splits matching requests between variants (a model, a prompt version, parameters)
              by user, session or request, or copies them to a candidate in the shadow. Requests join one with{" "}
              <code>model: "exp:&lt;name&gt;"</code> or the header <code>x-intersebd-experiment</code>.
            </p>
            <p className="muted">
              From a terminal: <code>intersebd experiments create</code>, or{" "}
              <code>POST /api/experiments</code>.
            </p>
          </>
        }
      >
        <DataTable
          testId="experiments-table"
          columns={["Name", "Status", "Variants", "Unit", "Updated", "Created by"]}
        >
          {rows.map((x) => {
            const shares = sharesOf(x);
            return (
              <tr key={x.name} data-experiment={x.name}>
                <td className="nowrap">
                  <Link to={`/experiments/${seg(x.name)}`}>{x.name}</Link>
                  {x.description ? <div className="muted small">{x.description}</div> : null}
                </td>
                <td>
                  <ExperimentStatusBadge status={x.status} />
                  {x.promoted ? <div className="small muted">to {x.promoted.variant}</div> : null}
                </td>
                <td data-testid="variants-cell">
                  {x.variants.map((v) => (
                    <span key={v.name} className="variant-chip" data-variant={v.name}>
                      {v.name}
                      {v.name === x.control ? <span className="muted"> (control)</span> : null}{" "}
                      <strong>{fmtPct(shares[v.name] ?? 0)}</strong>
                    </span>
                  ))}
                </td>
                <td>{x.unit}</td>
                <td className="nowrap">{fmtDateTime(new Date(x.updatedAt).toISOString())}</td>
                <td>{x.createdBy}</td>
              </tr>
            );
          })}
        </DataTable>
      </ListStates>
    </div>
  );
}
