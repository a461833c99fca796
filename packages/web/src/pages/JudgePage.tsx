import type { JudgeCalibrationPage, JudgeDisagreement } from "@intersebd/server/api-types";
import { useEffect, useState } from "react";
import { Link, useParams } from "react-router";
import { api, seg } from "../api.ts";
import { ErrorBox, Loading } from "../components/ui.tsx";
import { fmtDateTime, fmtReward, previewOut } from "../format.ts";
import { AgreementLine, Confusion } from "./JudgesPage.tsx";

function Preview({ c, label }: { c: JudgeDisagreement["calls"][number]; label?: string }) {
  return (
    <div className="calibrate-call">
      <div className="small muted">
        {label ? <strong>{label}: </strong> : null}
        {c.callId ? (
          <Link to={`/calls/${seg(c.callId)}`}>{c.tag}</Link>
        ) : (
          <span>{c.tag} (no stored call)</span>
        )}
      </div>
      {c.input ? <div className="small">{c.input}</div> : null}
      {c.output ? <div className="small muted">{previewOut(c.output)}</div> : null}
    </div>
  );
}

function Row({ d }: { d: JudgeDisagreement }) {
  const value = (verdict: string, reward: number | null) =>
    reward === null ? verdict : `${verdict} (${fmtReward(reward)})`;
  return (
    <tr data-testid="disagreement" data-key={d.key}>
      <td>
        {d.calls.map((c, i) => (
          <Preview key={c.tag} c={c} label={d.mode === "pairwise" ? (i === 0 ? "a" : "b") : undefined} />
        ))}
        {d.criterion ? <div className="small muted">criterion: {d.criterion}</div> : null}
      </td>
      <td>
        <strong data-testid="judge-verdict">{value(d.judge.verdict, d.judge.reward)}</strong>
        {d.judge.annotatorId ? <div className="small muted">by {d.judge.annotatorId}</div> : null}
        {d.judge.reason ? <div className="annotation-comment">“{d.judge.reason}”</div> : null}
        <div className="small muted">{fmtDateTime(d.at)}</div>
      </td>
      <td>
        <strong data-testid="human-verdict">{d.human}</strong>
        <ul className="plain">
          {d.humans.map((h) => (
            <li key={h.id} className="small">
              {value(h.verdict, h.reward)} <span className={`badge source-${h.source}`}>{h.source}</span>
              {h.annotatorId ? <span className="muted"> by {h.annotatorId}</span> : null}
              {h.reason ? <div className="annotation-comment">“{h.reason}”</div> : null}
            </li>
          ))}
        </ul>
      </td>
    </tr>
  );
}

/** `/judges/:name`: calibrate a judge — its agreement with people and every item where they disagree. */
export default function JudgePage() {
  const { name = "" } = useParams();
  const [page, setPage] = useState<JudgeCalibrationPage | null>(null);
  const [rows, setRows] = useState<JudgeDisagreement[]>([]);
  const [error, setError] = useState<Error | null>(null);
  const [loading, setLoading] = useState(false);

  const load = (cursor?: string) => {
    setLoading(true);
    api
      .get<JudgeCalibrationPage>(`/api/judges/${seg(name)}/calibration`, cursor ? { cursor } : undefined)
      .then(
        (p) => {
          setPage(p);
          setRows((prev) => (cursor ? [...prev, ...p.data] : p.data));
          setError(null);
        },
        (e: Error) => setError(e),
      )
      .finally(() => setLoading(false));
  };
  // biome-ignore lint/correctness/useExhaustiveDependencies: reload when the judge changes
  useEffect(() => {
    setRows([]);
    load();
  }, [name]);

  return (
    <div className="page wide">
      <header className="page-head">
        <div>
          <div className="small muted">
            <Link to="/judges">Judges</Link> /
          </div>
          <h1>Calibrate {name}</h1>
          <p className="muted small">
            Where the judge's verdict differs from people's: read its reasons against theirs and refine its
            prompt.
          </p>
        </div>
      </header>
      {error ? <ErrorBox error={error} /> : null}
      {loading && !page ? <Loading what="Loading the judge" /> : null}
      {page?.judges.map((j) => (
        <section key={`${j.mode}\n${j.criterion ?? ""}`} className="card" data-testid="judge-summary">
          <h2>
            {j.mode}
            {j.criterion ? ` · ${j.criterion}` : ""}: {j.verdicts} verdict{j.verdicts === 1 ? "" : "s"}
            {j.models.length ? <span className="muted small"> by {j.models.join(", ")}</span> : null}
          </h2>
          <p>
            <AgreementLine judge={j} />
          </p>
          {j.labelled ? <Confusion judge={j} /> : null}
        </section>
      ))}
      {page && rows.length === 0 ? (
        <p className="muted" data-testid="no-disagreements">
          No disagreement with people so far.
        </p>
      ) : null}
      {rows.length > 0 ? (
        <div className="table-wrap">
          <table data-testid="disagreements">
            <thead>
              <tr>
                <th>Item</th>
                <th>Judge</th>
                <th>People</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((d) => (
                <Row key={`${d.mode}\n${d.criterion ?? ""}\n${d.key}`} d={d} />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {page?.nextCursor ? (
        <button type="button" disabled={loading} onClick={() => load(page.nextCursor ?? undefined)}>
          More
        </button>
      ) : null}
    </div>
  );
}
