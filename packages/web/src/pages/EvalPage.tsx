import { useEffect, useMemo, useState } from "react";
import { Link, useLocation, useParams } from "react-router";
import { type ApiError, api, asApiError, seg } from "../api.ts";
import { describeCheck, EstimateView, StatusBadge } from "../components/EvalBits.tsx";
import { CALIBRATED_MIN } from "../components/JudgeBits.tsx";
import { PairBars, RateChart } from "../components/LazyCharts.tsx";
import { ErrorBox, Fact, Loading, Section } from "../components/ui.tsx";
import { compact, fmtCi, fmtCost, fmtDateTime, fmtMs, fmtNum, fmtPct, fmtRateCi } from "../format.ts";
import { useApi } from "../hooks.ts";
import type {
  CheckReport,
  Estimate,
  EvalReport,
  JudgeReport,
  Progress,
  RunState,
  RunView,
  Summary,
} from "../types.ts";

const POLL_MS = 1500;
const isActive = (run: RunView | undefined) => run?.status === "queued" || run?.status === "running";

function ProgressCard({ run, progress }: { run: RunView; progress: Progress }) {
  const finished = progress.done + progress.failed;
  const total = progress.total || run.total;
  return (
    <div
      className="card eval-progress"
      data-testid="eval-progress"
      data-finished={finished}
      data-total={total}
    >
      <div className="row">
        <progress max={total || 1} value={finished} aria-label="items finished" />
        <strong>
          {finished} / {total}
        </strong>
        <span className="muted">items</span>
        {isActive(run) ? <span className="muted small">· updating every {POLL_MS / 1000} s</span> : null}
      </div>
      <div className="small">
        <span className="ok-text">{progress.done} done</span>
        {progress.failed ? <span className="error-text"> · {progress.failed} failed</span> : null}
        {progress.running ? <span> · {progress.running} running</span> : null}
        {progress.pending ? <span className="muted"> · {progress.pending} waiting</span> : null}
      </div>
      {run.error ? <ErrorBox error={run.error} /> : null}
    </div>
  );
}

function ChecksSection({ checks }: { checks: CheckReport[] }) {
  const rows = useMemo(
    () => checks.map((c) => ({ label: c.name, rate: c.passRate.rate, ci: c.passRate.ci })),
    [checks],
  );
  if (checks.length === 0) return null;
  return (
    <Section title="Checks">
      <RateChart rows={rows} testId="passrate-chart" />
      <table className="report-table" data-testid="checks-table">
        <thead>
          <tr>
            <th>Check</th>
            <th className="num">Pass rate</th>
            <th className="num">95% CI</th>
            <th className="num">Passed</th>
            <th className="num">Failed</th>
            <th className="num">n/a</th>
            <th className="num">Errors</th>
            <th className="num">Mean score</th>
          </tr>
        </thead>
        <tbody>
          {checks.map((c) => (
            <tr key={c.name} data-testid="check-row" data-check={c.name}>
              <td>
                <strong>{c.name}</strong> <span className="muted small">{c.type}</span>
              </td>
              <td className="num" data-testid="pass-rate">
                {fmtPct(c.passRate.rate)}
              </td>
              <td className="num muted">{fmtRateCi(c.passRate.ci)}</td>
              <td className="num">{c.passed}</td>
              <td className="num">{c.failed}</td>
              <td className="num">{c.skipped}</td>
              <td className="num">{c.errors}</td>
              <td className="num">{fmtNum(c.meanScore)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Section>
  );
}

function PairwiseJudge({ j }: { j: Extract<JudgeReport, { mode: "pairwise" }> }) {
  const rows = useMemo(
    () => [
      { label: "win", rate: j.win.rate, ci: j.win.ci },
      { label: "tie", rate: j.tie.rate, ci: j.tie.ci },
      { label: "loss", rate: j.loss.rate, ci: j.loss.ci },
    ],
    [j],
  );
  return (
    <div className="judge" data-testid="judge-pairwise" data-judge={j.name}>
      <h3>
        {j.name}: pairwise, judged by {j.model}
      </h3>
      <p>
        The candidate against the logged answer, on {j.n} item{j.n === 1 ? "" : "s"}:{" "}
        <strong>{j.wins}</strong> win
        {j.wins === 1 ? "" : "s"}, <strong>{j.ties}</strong> tie{j.ties === 1 ? "" : "s"},{" "}
        <strong>{j.losses}</strong> loss{j.losses === 1 ? "" : "es"}; score {fmtPct(j.score)} (wins + half the
        ties)
        {j.errors ? <span className="error-text"> · {j.errors} unreadable verdicts</span> : null}.
      </p>
      <div className="split-chart">
        <RateChart rows={rows} testId="pairwise-chart" label="share" />
        <table className="report-table">
          <thead>
            <tr>
              <th />
              <th className="num">n</th>
              <th className="num">Rate</th>
              <th className="num">95% CI</th>
            </tr>
          </thead>
          <tbody>
            {(
              [
                ["win", j.wins, j.win],
                ["tie", j.ties, j.tie],
                ["loss", j.losses, j.loss],
              ] as const
            ).map(([label, n, r]) => (
              <tr key={label} data-outcome={label}>
                <td>{label}</td>
                <td className="num">{n}</td>
                <td className="num">{fmtPct(r.rate)}</td>
                <td className="num muted">{fmtRateCi(r.ci)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function AbsoluteJudge({ j }: { j: Extract<JudgeReport, { mode: "absolute" }> }) {
  const means = useMemo(
    () =>
      [
        { label: "baseline", values: [j.baseline.mean] },
        { label: "candidate", values: [j.candidate.mean] },
      ] as Parameters<typeof PairBars>[0]["series"],
    [j],
  );
  return (
    <div className="judge" data-testid="judge-absolute" data-judge={j.name}>
      <h3>
        {j.name}: scores {j.scale[0]}–{j.scale[1]}, judged by {j.model}
      </h3>
      {/* Its agreement with people first: the scores below are worth reading only once it is known. */}
      <p className="small" data-testid="judge-agreement">
        {j.agreement.n ? (
          <>
            Agreement with humans on {j.agreement.n} logged answer{j.agreement.n === 1 ? "" : "s"}:{" "}
            <strong>{fmtPct(j.agreement.rate.rate)}</strong> ({fmtRateCi(j.agreement.rate.ci)}), Cohen's κ{" "}
            {fmtNum(j.agreement.kappa)}.
          </>
        ) : (
          <span className="muted">
            No human annotation named "{j.name}" on these calls, so no agreement rate: name the judge after
            the annotation you want it compared with.
          </span>
        )}
        {j.agreement.n < CALIBRATED_MIN ? (
          <span className="badge warn" data-testid="not-calibrated">
            not yet calibrated: n &lt; {CALIBRATED_MIN}
          </span>
        ) : null}{" "}
        <Link to={`/judges/${seg(j.name)}`}>calibrate</Link>
        {j.errors ? <span className="error-text"> {j.errors} unreadable verdicts.</span> : null}
      </p>
      <div className="split-chart">
        <PairBars categories={["mean score"]} series={means} unit="score" testId="judge-chart" />
        <table className="report-table">
          <thead>
            <tr>
              <th />
              <th className="num">n</th>
              <th className="num">Mean</th>
              <th className="num">95% CI</th>
            </tr>
          </thead>
          <tbody>
            {(
              [
                ["candidate", j.candidate],
                ["baseline", j.baseline],
                ["difference", j.difference],
              ] as const
            ).map(([label, m]) => (
              <tr key={label} data-row={label}>
                <td>{label === "difference" ? "candidate − baseline" : label}</td>
                <td className="num">{m.n}</td>
                <td className="num">{fmtNum(m.mean)}</td>
                <td className="num muted">{fmtCi(m.ci)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function SummaryRows({
  what,
  baseline,
  candidate,
  fmt,
}: {
  what: string;
  baseline: Summary;
  candidate: Summary;
  fmt: (n: number | null) => string;
}) {
  return (
    <>
      {(
        [
          ["baseline", baseline],
          ["candidate", candidate],
        ] as const
      ).map(([label, s]) => (
        <tr key={label} data-testid={`${what}-${label}`}>
          <td>
            {what} · {label}
          </td>
          <td className="num">{s.n}</td>
          <td className="num">{fmt(s.mean)}</td>
          <td className="num">{fmt(s.p50)}</td>
          <td className="num">{fmt(s.p95)}</td>
          <td className="num">{what === "cost" ? fmt(s.total) : ""}</td>
        </tr>
      ))}
    </>
  );
}

function CostLatency({ report }: { report: EvalReport }) {
  const { latency, cost } = report;
  const latencySeries = useMemo(
    () =>
      [
        { label: "baseline", values: [latency.baseline.mean, latency.baseline.p50, latency.baseline.p95] },
        {
          label: "candidate",
          values: [latency.candidate.mean, latency.candidate.p50, latency.candidate.p95],
        },
      ] as Parameters<typeof PairBars>[0]["series"],
    [latency],
  );
  const costSeries = useMemo(
    () =>
      [
        { label: "baseline", values: [cost.baseline.mean, cost.baseline.p50, cost.baseline.p95] },
        { label: "candidate", values: [cost.candidate.mean, cost.candidate.p50, cost.candidate.p95] },
      ] as Parameters<typeof PairBars>[0]["series"],
    [cost],
  );
  const ms = (n: number | null) => fmtMs(n);
  return (
    <Section title="Cost and latency">
      <div className="split-chart">
        <div>
          <h3>Latency per call</h3>
          <PairBars
            categories={["mean", "p50", "p95"]}
            series={latencySeries}
            unit="ms"
            testId="latency-compare-chart"
          />
        </div>
        <div>
          <h3>Cost per call</h3>
          <PairBars
            categories={["mean", "p50", "p95"]}
            series={costSeries}
            unit="USD"
            format={fmtCost}
            testId="cost-compare-chart"
          />
        </div>
      </div>
      <table className="report-table" data-testid="cost-latency-table">
        <thead>
          <tr>
            <th />
            <th className="num">n</th>
            <th className="num">Mean</th>
            <th className="num">p50</th>
            <th className="num">p95</th>
            <th className="num">Total</th>
          </tr>
        </thead>
        <tbody>
          <SummaryRows what="latency" baseline={latency.baseline} candidate={latency.candidate} fmt={ms} />
          <SummaryRows what="cost" baseline={cost.baseline} candidate={cost.candidate} fmt={fmtCost} />
        </tbody>
      </table>
      <p className="muted small">
        Judges cost {fmtCost(cost.judgeTotalUsd)} in all. Baseline: the logged calls; a call without a known
        price is left out of the cost.
      </p>
    </Section>
  );
}

function WorstItems({ report }: { report: EvalReport }) {
  if (report.worst.length === 0)
    return (
      <Section title="Worst items">
        <p className="muted" data-testid="no-worst">
          No item failed a check or lost a comparison.
        </p>
      </Section>
    );
  return (
    <Section title="Worst items">
      <ol className="worst" data-testid="worst-items">
        {report.worst.map((w) => (
          <li key={w.index} data-index={w.index}>
            <div className="row">
              <strong>Item {w.index + 1}</strong>
              <Link to={`/calls/${seg(w.baselineCallId)}`}>logged call</Link>
              {w.candidateCallId ? (
                <Link to={`/calls/${seg(w.candidateCallId)}`} data-testid="candidate-link">
                  candidate's call
                </Link>
              ) : null}
              {w.candidateCallId ? (
                <Link to={`/compare?a=${seg(w.baselineCallId)}&b=${seg(w.candidateCallId)}`}>compare</Link>
              ) : null}
            </div>
            {w.error ? <div className="error-text small">failed: {w.error}</div> : null}
            {w.failedChecks.map((c) => (
              <div key={c.name} className="small">
                <span className="badge bad">{c.name}</span> {c.reason ?? ""}
              </div>
            ))}
            {w.pairwise?.map((p) => (
              <div key={p.name} className="small">
                <span
                  className={`badge ${p.outcome === "loss" ? "bad" : p.outcome === "win" ? "ok" : "neutral"}`}
                >
                  {p.name}: {p.outcome}
                </span>{" "}
                {p.reason ?? ""}
              </div>
            ))}
            {w.judgeScores?.map((s) => (
              <div key={s.name} className="small muted">
                {s.name}: candidate {fmtNum(s.candidate)}, baseline {fmtNum(s.baseline)}
              </div>
            ))}
          </li>
        ))}
      </ol>
    </Section>
  );
}

function Facts({ run }: { run: RunView }) {
  const c = run.candidate;
  return (
    <Section title="Run">
      <dl className="facts" data-testid="run-facts">
        <Fact label="Dataset">
          {run.dataset ? <Link to={`/datasets/${seg(run.dataset)}`}>{run.dataset}</Link> : "given calls"}
        </Fact>
        <Fact label="Candidate model">{c.model ?? <span className="muted">the logged model</span>}</Fact>
        <Fact label="Upstream">{c.upstream ?? "default"}</Fact>
        {c.systemPrompt !== undefined ? (
          <Fact label="System prompt" className="clamp">
            {c.systemPrompt}
          </Fact>
        ) : null}
        {c.params && Object.keys(c.params).length ? (
          <Fact label="Parameters">
            <code>{compact(c.params)}</code>
          </Fact>
        ) : null}
        <Fact label="Checks">
          {run.checks.length ? (
            run.checks.map((k) => (
              <div key={k.name}>
                <strong>{k.name}</strong> <span className="muted small">{describeCheck(k)}</span>
              </div>
            ))
          ) : (
            <span className="muted">none</span>
          )}
        </Fact>
        <Fact label="Cost">
          {fmtCost(run.costUsd)} <span className="muted small">(estimated {fmtCost(run.estimateUsd)})</span>
        </Fact>
        <Fact label="Started">{fmtDateTime(run.startedAt ?? run.createdAt)}</Fact>
        <Fact label="Finished">{fmtDateTime(run.finishedAt)}</Fact>
        <Fact label="Seed, concurrency">
          {run.seed}, {run.concurrency}
        </Fact>
        <Fact label="Replayed calls">
          <Link to={`/?tag=${seg(`eval:${run.id}`)}`}>tagged eval:{run.id}</Link>
        </Fact>
      </dl>
    </Section>
  );
}

export default function EvalPage() {
  const { id = "" } = useParams();
  const location = useLocation();
  const started = (location.state as { estimate?: Estimate } | null)?.estimate;
  const { data, error, loading, reload, setData } = useApi<RunState>(`/api/evals/${seg(id)}`);
  const [actionError, setActionError] = useState<ApiError>();
  const [acting, setActing] = useState(false);
  const active = isActive(data?.run);

  // Live progress: poll while the run goes on.
  useEffect(() => {
    if (!active) return;
    const t = setInterval(reload, POLL_MS);
    return () => clearInterval(t);
  }, [active, reload]);

  const act = async (what: "cancel" | "resume") => {
    setActing(true);
    setActionError(undefined);
    try {
      const r = await api.post<{ run: RunView }>(`/api/evals/${seg(id)}/${what}`, {});
      if (data) setData({ ...data, run: r.run });
      reload();
    } catch (err) {
      setActionError(asApiError(err));
    } finally {
      setActing(false);
    }
  };

  const run = data?.run;
  const report = data?.report;
  const resumable =
    run &&
    (run.status === "cancelled" ||
      (run.status === "failed" && data.progress.pending + data.progress.running > 0));
  const finished = report ? report.items.done + report.items.failed : 0;

  return (
    <div className="page wide">
      <header className="page-head">
        <div>
          <div className="muted small">
            <Link to="/evals">Evaluations</Link> /
          </div>
          <h1>
            {run ? (
              <>
                {run.candidate.model ?? "logged model"} on {run.dataset ?? "given calls"}{" "}
                <StatusBadge status={run.status} />
              </>
            ) : (
              id
            )}
          </h1>
          <code className="muted small">{id}</code>
        </div>
        {run ? (
          <div className="row">
            {active ? (
              <button type="button" onClick={() => void act("cancel")} disabled={acting}>
                Cancel
              </button>
            ) : null}
            {resumable ? (
              <button type="button" className="primary" onClick={() => void act("resume")} disabled={acting}>
                Resume
              </button>
            ) : null}
          </div>
        ) : null}
      </header>
      {error ? <ErrorBox error={error} /> : null}
      {actionError ? <ErrorBox error={actionError} /> : null}
      {loading && !data ? <Loading what="Loading the evaluation" /> : null}
      {started && active ? <EstimateView estimate={started} /> : null}
      {run && data ? (
        <>
          <ProgressCard run={run} progress={data.progress} />
          {report && finished > 0 ? (
            <div data-testid="eval-report" data-complete={String(!active)}>
              {active ? (
                <p className="muted small">
                  Partial report: {finished} of {report.items.total} items so far.
                </p>
              ) : null}
              <ChecksSection checks={report.checks} />
              {report.judges.length ? (
                <Section title="Judges">
                  {report.judges.map((j) =>
                    j.mode === "pairwise" ? (
                      <PairwiseJudge key={j.name} j={j} />
                    ) : (
                      <AbsoluteJudge key={j.name} j={j} />
                    ),
                  )}
                </Section>
              ) : null}
              <CostLatency report={report} />
              <WorstItems report={report} />
              <p className="muted small methods">
                Intervals are 95%: {report.methods.proportions} for rates; {report.methods.means} for mean
                scores; percentiles by {report.methods.percentiles}.
              </p>
            </div>
          ) : (
            <div className="empty" data-testid="no-report">
              <h2>{active ? "Results appear as items finish" : "No result"}</h2>
              <p className="muted">
                {active
                  ? "Each item replays one logged request against the candidate, then runs the checks and the judge."
                  : "No item of this run finished."}
              </p>
            </div>
          )}
          <Facts run={run} />
          {run.status === "done" ? null : (
            <p className="muted small">
              From a terminal, <code>intersebd eval --resume {run.id}</code> follows this run, or continues it
              when it was interrupted.
            </p>
          )}
        </>
      ) : null}
    </div>
  );
}
