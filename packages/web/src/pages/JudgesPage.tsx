import type { JudgeSummary } from "@intersebd/server/api-types";
import { Link } from "react-router";
import { seg } from "../api.ts";
import { CALIBRATED_MIN } from "../components/JudgeBits.tsx";
import { DataTable, ListStates, numColumn, PageHead } from "../components/ui.tsx";
import { fmtCi, fmtNum, fmtPct, fmtRateCi } from "../format.ts";
import { useApi } from "../hooks.ts";

const judgePath = (j: JudgeSummary) => `/judges/${seg(j.name)}`;

/** The confusion table: rows the judge's verdict, columns the people's; the diagonal is agreement. */
export function Confusion({ judge }: { judge: JudgeSummary }) {
  const { labels, counts } = judge.confusion;
  return (
    <table className="report-table confusion" data-testid="confusion">
      <thead>
        <tr>
          <th className="muted small">judge ↓ · people →</th>
          {labels.map((l) => (
            <th key={l} className="num">
              {l}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {labels.map((row, i) => (
          <tr key={row} data-row={row}>
            <th>{row}</th>
            {labels.map((col, j) => (
              <td key={col} className={`num ${i === j ? "" : "muted"}`} data-cell={`${row}/${col}`}>
                {counts[i]?.[j] ?? 0}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The agreement line: kappa with its interval, raw agreement, n, and "not yet calibrated" below the minimum. */
export function AgreementLine({ judge }: { judge: JudgeSummary }) {
  const a = judge.agreement;
  if (a.n === 0)
    return (
      <span className="muted" data-testid="agreement-line">
        No item labelled by people too: label some of its calls with an annotation named "{judge.name}" (or
        compare the same pairs) to calibrate it.
      </span>
    );
  return (
    <span data-testid="agreement-line">
      Cohen's κ <strong>{fmtNum(a.kappa)}</strong> (95% {fmtCi(a.kappaCi)}), agreement {fmtPct(a.rate)} (
      {fmtRateCi(a.rateCi)}) on {a.n} item{a.n === 1 ? "" : "s"}
      {judge.calibrated ? null : (
        <span className="badge warn" data-testid="not-calibrated">
          not yet calibrated: n &lt; {CALIBRATED_MIN}
        </span>
      )}
    </span>
  );
}

/** `/judges`: every judge seen, with its agreement with people. */
export default function JudgesPage() {
  const list = useApi<{ data: JudgeSummary[] }>("/api/judges");
  const rows = list.data?.data ?? [];
  return (
    <div className="page wide">
      <PageHead
        title="Judges"
        explanation={
          <>
            How often each judge agrees with people on the same items, before its numbers are trusted. A judge
            is what wrote verdicts with source <code>judge</code>; people's labels are annotations of the same
            name on the same call (or choices on the same pair) with source <code>human</code> or{" "}
            <code>user</code>.
          </>
        }
      />
      <ListStates
        list={list}
        count={rows.length}
        loadingWhat="Loading judges"
        emptyTestId="judges-empty"
        empty={
          <>
            <h2>No judge has given a verdict yet</h2>
            <p>
              Judges appear here once an evaluation, a live evaluator or a shadow experiment has judged a
              call.
            </p>
          </>
        }
      >
        <DataTable
          testId="judges-table"
          columns={[
            "Judge",
            "Mode",
            ...["Verdicts", "Labelled by people", "κ", "95% CI", "Agreement", "Disagreements"].map(numColumn),
          ]}
        >
          {rows.map((j) => (
            <tr key={`${j.name}\n${j.mode}\n${j.criterion ?? ""}`} data-judge={j.name}>
              <td className="nowrap">
                <Link to={judgePath(j)}>{j.name}</Link>
                {j.criterion ? <span className="muted"> · {j.criterion}</span> : null}
                {j.models.length ? <div className="muted small">{j.models.join(", ")}</div> : null}
              </td>
              <td>{j.mode}</td>
              <td className="num">{j.verdicts}</td>
              <td className="num">
                {j.labelled}
                {j.calibrated ? null : (
                  <div className="small muted" title={`not yet calibrated: n < ${CALIBRATED_MIN}`}>
                    not yet calibrated
                  </div>
                )}
              </td>
              <td className="num">
                <strong>{fmtNum(j.agreement.kappa)}</strong>
              </td>
              <td className="num muted">{fmtCi(j.agreement.kappaCi)}</td>
              <td className="num">{fmtPct(j.agreement.rate)}</td>
              <td className="num">
                {j.disagreements ? <Link to={judgePath(j)}>{j.disagreements}: calibrate</Link> : 0}
              </td>
            </tr>
          ))}
        </DataTable>
      </ListStates>
    </div>
  );
}
