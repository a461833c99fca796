import { DataTable, ListStates, PageHead } from "../components/ui.tsx";
import { fmtDateTime, fmtInt, fmtPct } from "../format.ts";
import { useApi } from "../hooks.ts";
import type { AlertList, AlertView } from "../types.ts";

/** Rates are shown as percentages; a floor count and a reward drop as numbers. */
function fmtValue(a: AlertView, v: number | null): string {
  if (v === null) return "—";
  return a.condition === "rate" || a.condition === "error-rate"
    ? fmtPct(v)
    : String(Math.round(v * 1000) / 1000);
}

const CONDITION: Record<string, string> = {
  rate: "check failure rate",
  floor: "floor flags",
  "reward-drop": "reward drop vs a week before",
  "error-rate": "error rate",
};

/** `/alerts`: the alert rules' episodes, open first, then resolved, newest first. */
export default function AlertsPage() {
  const list = useApi<AlertList>("/api/alerts?limit=200");
  const { data } = list;
  const rows = data?.alerts ?? [];
  return (
    <div className="page wide">
      <PageHead
        title="Alerts"
        explanation="An alert opens when a rule's condition holds over its window (a check failing too often, a floor flag, a reward dropping against the week before, errors) and resolves when it stops holding."
        actions={
          data ? (
            <span className="muted" data-testid="alerts-open">
              {data.open} open
            </span>
          ) : null
        }
      />
      <ListStates
        list={list}
        count={rows.length}
        loadingWhat="Loading alerts"
        emptyTestId="alerts-empty"
        empty={
          <>
            <h2>No alerts</h2>
            <p>
              Rules are added with <code>POST /api/alerts/rules</code>, for example{" "}
              <code>
                {
                  '{ "name": "json", "condition": { "kind": "rate", "check": "json-schema", "above": 0.05 }, "window": "1h", "minCalls": 50 }'
                }
              </code>
              .
            </p>
          </>
        }
      >
        <DataTable
          testId="alerts-table"
          columns={[
            "Status",
            "Rule",
            "Condition",
            "Value",
            "Threshold",
            "Window",
            "Calls",
            "Started",
            "Resolved",
          ]}
        >
          {rows.map((a) => (
            <tr key={a.id} data-alert={a.id} data-status={a.status}>
              <td>
                <span className={a.status === "open" ? "badge bad" : "badge"}>{a.status}</span>
              </td>
              <td className="nowrap">{a.rule}</td>
              <td>{CONDITION[a.condition] ?? a.condition}</td>
              <td className="num" title={`latest: ${fmtValue(a, a.lastValue)}`}>
                {fmtValue(a, a.value)}
              </td>
              <td className="num">{fmtValue(a, a.threshold)}</td>
              <td>{a.window}</td>
              <td className="num">{fmtInt(a.calls)}</td>
              <td className="nowrap">{fmtDateTime(a.startedAt)}</td>
              <td className="nowrap">{a.resolvedAt ? fmtDateTime(a.resolvedAt) : "—"}</td>
            </tr>
          ))}
        </DataTable>
      </ListStates>
    </div>
  );
}
